//! Data structures of io_uring/rsrc.h (7.1, blob 44e3386f7c1c) and the parts
//! of `struct io_ring_ctx` the registration path touches.

use crate::mm::{AllocId, AllocSite, Pfn};
use std::collections::BTreeMap;

/// `IO_CACHED_BVECS_SEGS`: imus with at most this many bvecs come from the cache.
pub const IO_CACHED_BVECS_SEGS: usize = 32;
/// `IO_ALLOC_CACHE_MAX`.
pub const IO_ALLOC_CACHE_MAX: usize = 128;
/// Pages `io_create_region()` (io_uring/memmap.c) charges to `user->locked_vm`
/// for the ring's own regions when the creator lacks CAP_IPC_LOCK: one page
/// of SQ/CQ rings and one of SQEs for the 8-entry ring the model assumes
/// (and `regbuf-fuzz live` creates). Not in `pinned_vm`.
pub const RING_REGION_PAGES: u64 = 2;
/// `IORING_MAX_REG_BUFFERS`.
pub const IORING_MAX_REG_BUFFERS: u32 = 1 << 14;
/// `ITER_DEST`: data flows into the buffer (a read).
pub const ITER_DEST: u32 = 0;
/// `ITER_SOURCE`: data flows out of the buffer (a write).
pub const ITER_SOURCE: u32 = 1;
/// `IO_IMU_DEST`.
pub const IO_IMU_DEST: u8 = 1 << ITER_DEST;
/// `IO_IMU_SOURCE`.
pub const IO_IMU_SOURCE: u8 = 1 << ITER_SOURCE;
/// `IO_REGBUF_F_KBUF`: `imu->flags` of a kernel-registered buffer
/// ([`super::kbuf`]).
pub const IO_REGBUF_F_KBUF: u8 = 1;

/// `struct iovec` as user space passes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Iovec {
    /// `iov_base`.
    pub iov_base: u64,
    /// `iov_len`.
    pub iov_len: u64,
}

/// `struct bio_vec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BioVec {
    /// `bv_page`.
    pub bv_page: Pfn,
    /// `bv_len`.
    pub bv_len: u64,
    /// `bv_offset`; may exceed `PAGE_SIZE` (a multi-page bvec).
    pub bv_offset: u64,
}

/// `struct io_mapped_ubuf`. `bvec` has one slot per allocated entry; a slot
/// is `None` until first written, and a slot of a recycled cache object keeps
/// what its previous user wrote there (the cache does not zero).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoMappedUbuf {
    /// `ubuf`.
    pub ubuf: u64,
    /// `len` (`unsigned int` in 7.1; the 1 GiB limit keeps it in range).
    pub len: u64,
    /// `nr_bvecs`.
    pub nr_bvecs: u32,
    /// `folio_shift`.
    pub folio_shift: u32,
    /// `refs`.
    pub refs: u32,
    /// `acct_pages`.
    pub acct_pages: u64,
    /// `flags`: [`IO_REGBUF_F_KBUF`] for a kernel-registered buffer.
    pub flags: u8,
    /// `dir`.
    pub dir: u8,
    /// `release` with `priv`: what gives the memory back when the last
    /// reference goes.
    pub release: ImuRelease,
    /// `bvec[]`, the allocated slots.
    pub bvec: super::runs::BvecTable,
}

/// `imu->release(imu->priv)`: the function pointer and its argument, as
/// the two kinds of buffer set them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImuRelease {
    /// Never written: a fresh allocation. A recycled cache object keeps
    /// its last user's, as the C's does.
    Unset,
    /// `io_release_ubuf` with `priv = imu`: unpin the folio of every bvec.
    Ubuf,
    /// The driver's callback with `priv = rq` (ublk's `ublk_io_release()`):
    /// the request, by its number in [`super::World::kbuf_rqs`].
    Kbuf(u32),
}

impl IoMappedUbuf {
    /// A freshly allocated, never written object with `slots` bvec slots.
    pub fn uninit(slots: usize) -> Self {
        IoMappedUbuf {
            ubuf: 0,
            len: 0,
            nr_bvecs: 0,
            folio_shift: 0,
            refs: 0,
            acct_pages: 0,
            flags: 0,
            dir: 0,
            release: ImuRelease::Unset,
            bvec: super::runs::BvecTable::uninit(slots as u64),
        }
    }

    /// The first `nr_bvecs` entries, as registration wrote them, one by one.
    pub fn bvecs(&self) -> impl Iterator<Item = Option<BioVec>> + '_ {
        self.bvec.iter_upto(self.nr_bvecs as u64)
    }

    /// The request of a kernel-registered buffer: its number in
    /// [`super::World::kbuf_rqs`], or `None` for a user buffer.
    pub fn kbuf_rq(&self) -> Option<u32> {
        match self.release {
            ImuRelease::Kbuf(rq) => Some(rq),
            _ => None,
        }
    }

    /// The first `nr_bvecs` entries as runs: `(start, n, run)`, `None` for
    /// slots never written.
    pub fn bvec_runs(&self) -> Vec<(u64, u64, Option<super::runs::BvecRun>)> {
        self.bvec.entries(self.nr_bvecs as u64)
    }
}

/// `struct io_imu_folio_data`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoImuFolioData {
    /// `nr_pages_head`: pages used from the first folio.
    pub nr_pages_head: u64,
    /// `nr_pages_mid`: pages of every full folio.
    pub nr_pages_mid: u64,
    /// `folio_shift` of the first folio.
    pub folio_shift: u32,
    /// `nr_folios`: number of runs.
    pub nr_folios: u64,
    /// `first_folio_page_idx`: index of `page_array[0]` in its folio.
    pub first_folio_page_idx: u64,
}

/// `struct io_rsrc_node` (buffer nodes only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoRsrcNode {
    /// `refs`.
    pub refs: u32,
    /// `tag`.
    pub tag: u64,
    /// `buf`.
    pub buf: Option<AllocId>,
}

/// `struct io_rsrc_data`: the buffer table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IoRsrcData {
    /// `nodes`, `nr` entries.
    pub nodes: Vec<Option<AllocId>>,
    /// The ledger id of the `nodes` array, while it exists.
    pub array: Option<AllocId>,
}

impl IoRsrcData {
    /// `data->nr`.
    pub fn nr(&self) -> usize {
        self.nodes.len()
    }
}

/// `struct io_alloc_cache`: freed objects kept for reuse, not zeroed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoAllocCache {
    /// Cached objects, most recently freed last.
    pub entries: Vec<AllocId>,
    /// Where a miss allocates.
    pub site: AllocSite,
}

/// `struct user_struct`'s `locked_vm` and the RLIMIT_MEMLOCK it is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserStruct {
    /// `locked_vm`, in pages.
    pub locked_vm: u64,
    /// `rlimit(RLIMIT_MEMLOCK)`, in bytes.
    pub rlimit_memlock: u64,
}

/// The parts of `struct io_ring_ctx` this path uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoRingCtx {
    /// `buf_table`.
    pub buf_table: IoRsrcData,
    /// `user`: `None` when the ring's creator has CAP_IPC_LOCK.
    pub user: Option<UserStruct>,
    /// `mm_account->pinned_vm`, in pages.
    pub pinned_vm: u64,
    /// Pages charged to `user->locked_vm` for the ring's own regions at
    /// setup ([`RING_REGION_PAGES`] with a `user`, else 0), uncharged at exit.
    pub region_pages: u64,
    /// `node_cache`.
    pub node_cache: IoAllocCache,
    /// `imu_cache`.
    pub imu_cache: IoAllocCache,
    /// `hpage_acct` (Linux 7.2, df0a52537c0f): the per-ring xarray from a
    /// huge page's head to the number of buffer references that hold its
    /// charge. Only the `v7.2` variant uses it; under 7.1 it stays empty.
    pub hpage_acct: BTreeMap<Pfn, HpageAcct>,
    /// Fixed-buffer requests issued and not yet freed, oldest first. Each
    /// holds a reference on its buffer's node (`req->buf_node`), so a
    /// buffer an update or unregister dropped from the table stays pinned
    /// and charged until the last of them is freed.
    pub inflight: std::collections::VecDeque<InflightReq>,
    /// Kernel C of 6.12 and before ([`crate::ctree`]): the reference nodes
    /// the ring holds (`rsrc_node`, the nodes queued on `rsrc_ref_list`).
    /// The model's own design has none; it leaves this empty.
    pub held_nodes: Vec<AllocId>,
    /// The same trees' buffers removed from the table but still held: a
    /// node on `rsrc_ref_list` keeps its buffer pinned and charged until
    /// every request of its generation is done. Each is a key of
    /// `World::nodes` whose `buf` is itself.
    pub held_bufs: Vec<AllocId>,
}

impl IoRingCtx {
    /// A ring just set up for `user`, before its regions are charged.
    pub fn setup(user: Option<UserStruct>) -> Self {
        IoRingCtx {
            buf_table: IoRsrcData::default(),
            user,
            pinned_vm: 0,
            region_pages: 0,
            node_cache: IoAllocCache {
                entries: vec![],
                site: AllocSite::RsrcNodeAlloc,
            },
            imu_cache: IoAllocCache {
                entries: vec![],
                site: AllocSite::ImuCache,
            },
            hpage_acct: BTreeMap::new(),
            inflight: Default::default(),
            held_nodes: vec![],
            held_bufs: vec![],
        }
    }
}

/// The parts of `struct io_kiocb` a fixed-buffer request uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoKiocb {
    /// `buf_index`.
    pub buf_index: u32,
    /// `buf_node`, set by `io_find_buf_node()` (`REQ_F_BUF_NODE`).
    pub buf_node: Option<AllocId>,
}

impl IoKiocb {
    /// A request for slot `buf_index`, before issue.
    pub fn new(buf_index: u32) -> Self {
        IoKiocb {
            buf_index,
            buf_node: None,
        }
    }
}

/// A request still in flight: a fixed read waiting for data (a pipe or a
/// socket with nothing to read, poll-armed), its buffer already imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InflightReq {
    /// The request and the node it holds.
    pub req: IoKiocb,
    /// The physical bytes its iterator names; they are read or written
    /// when the request completes.
    pub import: Vec<super::iov_iter::PhysRange>,
}

/// One `ctx->hpage_acct` entry: `xa_mk_value(count)` in the slot
/// `xa_reserve()` allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HpageAcct {
    /// References (`xa_to_value(entry)`).
    pub count: u64,
    /// The ledger id of the slot, freed by `xa_erase()` or `xa_destroy()`.
    pub slot: AllocId,
}
