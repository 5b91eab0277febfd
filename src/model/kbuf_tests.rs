//! Kernel-registered buffers, worked by hand from io_uring/rsrc.c: what
//! `io_buffer_register_bvec()` installs, what it refuses, where its imu
//! comes from and goes back to, how imports walk the request's bvecs, and
//! when the driver gets its request back.

use crate::mm::AllocSite;
use crate::model::kbuf::{self, BlkRequest, READ, WRITE};
use crate::model::{rsrc, BioVec, Errno, ImuRelease, IoKiocb, Iovec, World};
use crate::model::{IO_IMU_DEST, IO_IMU_SOURCE, IO_REGBUF_F_KBUF, ITER_DEST, ITER_SOURCE};
use crate::run::run;
use crate::scenario::{build, Scenario};
use crate::variants::upstream::Upstream;
use crate::variants::v7_2::V72;
use crate::variants::Variant;

/// Two small folios and a hugetlb one, a sparse table of `nr` slots, then
/// `ops` (TOML `[[op]]` tables).
fn scenario(nr: u32, ops: &str) -> Scenario {
    Scenario::from_toml(&format!(
        "format = 1\ngeometry = \"real\"\n\
         [[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"small\"\ngap = 1\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
         [[segment]]\nfolio = 2\n\
         [[op]]\nop = \"register_sparse\"\nnr = {nr}\n{ops}"
    ))
    .expect("test scenario parses")
}

/// A world with a sparse table of `nr` slots and request 0: `bvecs` as
/// (folio, byte offset, length) of the scenario above.
fn world(nr: u32, bvecs: &[(usize, u64, u64)], segments: u32, dir: u32) -> World {
    let b = build(&scenario(nr, "")).unwrap();
    let mut w = b.world.clone();
    rsrc::io_sqe_buffers_register(&Upstream, &mut w, None, nr).unwrap();
    let heads: Vec<u64> = w.phys.folios().iter().map(|f| f.head).collect();
    w.kbuf_rqs.push(BlkRequest {
        bvecs: bvecs
            .iter()
            .map(|&(f, off, len)| BioVec {
                bv_page: heads[f] + off / 4096,
                bv_len: len,
                bv_offset: off % 4096,
            })
            .collect(),
        nr_phys_segments: segments,
        data_dir: dir,
        released: 0,
        registered: false,
    });
    w
}

fn slot_imu(w: &World, slot: usize) -> crate::mm::AllocId {
    w.nodes[&w.ctx.buf_table.nodes[slot].unwrap()].buf.unwrap()
}

fn assert_clean(r: &crate::run::Run) {
    for (i, op) in r.ops.iter().enumerate() {
        assert!(
            op.violations.is_empty(),
            "op {i} ({}): {:?}",
            op.kind,
            op.violations
        );
    }
}

#[test]
fn a_registered_request_is_a_flagged_buffer_of_its_bvecs_with_no_pin_and_no_charge() {
    let mut w = world(2, &[(0, 512, 1024), (2, 4096, 8192)], 2, WRITE);
    let before = w.phys.counters();
    kbuf::io_buffer_register_bvec(&Upstream, &mut w, 0, 1).unwrap();
    let imu = slot_imu(&w, 1);
    let m = w.imu(imu);
    assert_eq!(
        (
            m.ubuf,
            m.len,
            m.nr_bvecs,
            m.folio_shift,
            m.refs,
            m.acct_pages
        ),
        (0, 1024 + 8192, 2, 12, 1, 0)
    );
    assert_eq!((m.flags, m.dir), (IO_REGBUF_F_KBUF, IO_IMU_SOURCE));
    assert_eq!(m.release, ImuRelease::Kbuf(0));
    assert_eq!(m.bvec.get(1).unwrap().bv_len, 8192);
    assert_eq!(w.phys.counters(), before, "no pin, no reference");
    assert_eq!((w.ctx.pinned_vm, w.ctx.buf_table.nodes[0]), (0, None));
    // A READ request's buffer is a destination only.
    let mut r = world(1, &[(0, 0, 4096)], 1, READ);
    kbuf::io_buffer_register_bvec(&Upstream, &mut r, 0, 0).unwrap();
    assert_eq!(r.imu(slot_imu(&r, 0)).dir, IO_IMU_DEST);
}

#[test]
fn registration_needs_an_empty_slot_of_the_table() {
    let mut w = world(2, &[(0, 0, 4096)], 1, WRITE);
    assert_eq!(
        kbuf::io_buffer_register_bvec(&Upstream, &mut w, 0, 2),
        Err(Errno::EINVAL)
    );
    kbuf::io_buffer_register_bvec(&Upstream, &mut w, 0, 0).unwrap();
    assert_eq!(
        kbuf::io_buffer_register_bvec(&Upstream, &mut w, 0, 0),
        Err(Errno::EBUSY)
    );
    // No table at all: every index is past it.
    let b = build(&scenario(1, "")).unwrap();
    let mut none = b.world.clone();
    none.kbuf_rqs = w.kbuf_rqs.clone();
    assert_eq!(
        kbuf::io_buffer_register_bvec(&Upstream, &mut none, 0, 0),
        Err(Errno::EINVAL)
    );
}

#[test]
fn the_imu_is_sized_by_segments_and_freed_by_bvecs() {
    // 40 segments for 2 bvecs: kvmalloc_flex of 40, and on release the
    // cache takes it, as io_free_imu() decides by nr_bvecs.
    let mut w = world(1, &[(0, 0, 4096), (1, 0, 4096)], 40, WRITE);
    kbuf::io_buffer_register_bvec(&Upstream, &mut w, 0, 0).unwrap();
    let imu = slot_imu(&w, 0);
    assert_eq!(w.alloc.live()[&imu].site, AllocSite::ImuKvmalloc);
    assert_eq!(w.imu(imu).bvec.slots(), 40);
    kbuf::io_buffer_unregister_bvec(&Upstream, &mut w, 0).unwrap();
    assert_eq!(w.ctx.imu_cache.entries, vec![imu]);
    assert_eq!(w.kbuf_rqs[0].released, 1);
    // As many segments as the cache holds: the imu comes from it.
    let mut c = world(1, &[(0, 0, 4096)], 32, WRITE);
    kbuf::io_buffer_register_bvec(&Upstream, &mut c, 0, 0).unwrap();
    assert_eq!(c.alloc.live()[&slot_imu(&c, 0)].site, AllocSite::ImuCache);
}

#[test]
fn a_failed_imu_allocation_frees_the_node_in_7_1_and_caches_it_in_7_2() {
    let plan = crate::mm::FaultPlan {
        points: vec![crate::mm::FaultPoint::Site {
            site: AllocSite::ImuCache,
            nth: 0,
        }],
    };
    for (v, cached) in [(&Upstream as &dyn Variant, 0), (&V72, 1)] {
        let mut w = world(1, &[(0, 0, 4096)], 1, WRITE);
        w.alloc = crate::mm::Alloc::new(plan.clone());
        let r = v.io_buffer_register_bvec(&mut w, 0, 0);
        assert_eq!(r, Err(Errno::ENOMEM), "{}", v.name());
        assert_eq!(w.ctx.node_cache.entries.len(), cached, "{}", v.name());
        assert_eq!(w.ctx.buf_table.nodes[0], None);
        // The ledger started after the table was made: the node is all it
        // knows, freed or cached.
        let live: Vec<_> = w.alloc.live().keys().copied().collect();
        assert_eq!(live, w.ctx.node_cache.entries, "{}", v.name());
    }
}

#[test]
fn unregister_takes_back_kernel_buffers_only() {
    let s = scenario(
        3,
        "[[op]]\nop = \"update\"\noffset = 2\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 4096 } }]\n\
         [[op]]\nop = \"kbuf_register\"\nindex = 1\ndir = \"write\"\nbvecs = [{ folio = 0, off = 0, len = 4096 }]\n\
         [[op]]\nop = \"kbuf_unregister\"\nindex = 0\n\
         [[op]]\nop = \"kbuf_unregister\"\nindex = 3\n\
         [[op]]\nop = \"kbuf_unregister\"\nindex = 2\n\
         [[op]]\nop = \"kbuf_unregister\"\nindex = 1\n\
         [[op]]\nop = \"kbuf_unregister\"\nindex = 1\n",
    );
    let r = run(&Upstream, &build(&s).unwrap());
    assert_clean(&r);
    let rets: Vec<i64> = r.ops.iter().map(|o| o.ret).collect();
    let (inval, busy) = (Errno::EINVAL.neg() as i64, Errno::EBUSY.neg() as i64);
    assert_eq!(rets, [0, 1, 0, inval, inval, busy, 0, inval, 0]);
    assert_eq!(r.ops[5].snapshot.kbuf_released, [0]);
    assert_eq!(r.ops[6].snapshot.kbuf_released, [1]);
}

#[test]
fn the_release_waits_for_a_request_in_flight_and_for_a_clone() {
    let s = scenario(
        1,
        "[[op]]\nop = \"kbuf_register\"\nindex = 0\ndir = \"read\"\nbvecs = [{ folio = 0, off = 0, len = 4096 }]\n\
         [[op]]\nop = \"kbuf_import\"\nslot = 0\nddir = \"read\"\noff = 0\nlen = 100\nhold = true\n\
         [[op]]\nop = \"kbuf_unregister\"\nindex = 0\n\
         [[op]]\nop = \"complete\"\n",
    );
    let r = run(&Upstream, &build(&s).unwrap());
    assert_clean(&r);
    let released: Vec<Vec<u32>> = r
        .ops
        .iter()
        .map(|o| o.snapshot.kbuf_released.clone())
        .collect();
    assert_eq!(
        released,
        [vec![], vec![0], vec![0], vec![0], vec![1], vec![1]]
    );
    // A clone in ring 1 outlives the source slot: released at ring exit.
    let s = scenario(
        1,
        "[[op]]\nop = \"kbuf_register\"\nindex = 0\ndir = \"write\"\nbvecs = [{ folio = 2, off = 0, len = 4096 }]\n\
         [[op]]\nop = \"ring\"\nring = 1\n[[op]]\nop = \"clone\"\nsrc = 0\n[[op]]\nop = \"ring\"\nring = 0\n\
         [[op]]\nop = \"kbuf_unregister\"\nindex = 0\n",
    );
    for v in [&Upstream as &dyn Variant, &V72] {
        let r = run(v, &build(&s).unwrap());
        assert_clean(&r);
        let n = r.ops.len();
        assert_eq!(r.ops[n - 2].snapshot.kbuf_released, [0], "{}", v.name());
        assert_eq!(r.ops[n - 1].snapshot.kbuf_released, [1], "{}", v.name());
    }
}

#[test]
fn an_update_over_a_kernel_buffer_releases_it() {
    let s = scenario(
        1,
        "[[op]]\nop = \"kbuf_register\"\nindex = 0\ndir = \"write\"\nbvecs = [{ folio = 0, off = 0, len = 4096 }]\n\
         [[op]]\nop = \"update\"\noffset = 0\niovecs = [{ kind = \"null\" }]\n",
    );
    let r = run(&Upstream, &build(&s).unwrap());
    assert_clean(&r);
    assert_eq!(r.ops[2].snapshot.kbuf_released, [1]);
}

#[test]
fn an_import_walks_the_bvecs_from_its_offset() {
    // Bvecs of 1024, 8192 and 100 bytes.
    let mut w = world(1, &[(0, 512, 1024), (2, 4096, 8192), (1, 0, 100)], 3, WRITE);
    kbuf::io_buffer_register_bvec(&Upstream, &mut w, 0, 0).unwrap();
    let imu = slot_imu(&w, 0);
    // Exactly at the end of bvec 0: the advance moves past it.
    let it = rsrc::io_import_fixed(&Upstream, &mut w, ITER_SOURCE, imu, 1024, 10).unwrap();
    assert_eq!((it.nr_segs, it.iov_offset, it.count), (2, 0, 10));
    let it = rsrc::io_import_fixed(&Upstream, &mut w, ITER_SOURCE, imu, 1000, 8300).unwrap();
    assert_eq!((it.nr_segs, it.iov_offset, it.count), (3, 1000, 8300));
    let (ranges, used) = it.physical_ranges(&mut w);
    let heads: Vec<u64> = w.phys.folios().iter().map(|f| f.head).collect();
    assert_eq!(
        ranges,
        [
            ((heads[0] << 12) + 1512, 24),
            (((heads[2] + 1) << 12), 8192),
            ((heads[1] << 12), 8300 - 24 - 8192),
        ]
    );
    assert_eq!(used, 3);
    // The other direction, and a range past the buffer, are -EFAULT.
    let dest = rsrc::io_import_fixed(&Upstream, &mut w, ITER_DEST, imu, 0, 10);
    assert_eq!(dest, Err(Errno::EFAULT));
    let past = rsrc::io_import_fixed(&Upstream, &mut w, ITER_SOURCE, imu, 9300, 17);
    assert_eq!(past, Err(Errno::EFAULT));
}

#[test]
fn a_vectored_import_is_sized_and_cut_at_bvec_boundaries() {
    let mut w = world(1, &[(0, 0, 4096), (2, 0, 8192), (1, 0, 4096)], 3, READ);
    kbuf::io_buffer_register_bvec(&Upstream, &mut w, 0, 0).unwrap();
    let imu = slot_imu(&w, 0);
    let iov = |b, l| Iovec {
        iov_base: b,
        iov_len: l,
    };
    // [4000, 12300) reaches all three bvecs; [4096, 4196) only the second.
    let iovs = [iov(4000, 8300), iov(4096, 100)];
    let n = kbuf::io_kern_bvec_size(&Upstream, &mut w, &iovs, imu).unwrap();
    assert_eq!(n, 4);
    let it = kbuf::io_vec_fill_kern_bvec(&Upstream, &mut w, ITER_DEST, imu, &iovs, n).unwrap();
    let crate::model::iov_iter::BvecSource::Owned(res) = &it.bvec else {
        unreachable!("a private array")
    };
    let lens: Vec<(u64, u64)> = res.iter().map(|b| (b.bv_offset, b.bv_len)).collect();
    assert_eq!(lens, [(4000, 96), (0, 8192), (0, 12), (0, 100)]);
    assert_eq!(it.count, 8400);
    assert!(w.events.is_empty(), "{:?}", w.events);
    // An empty iovec is -EFAULT, one past the buffer too.
    let empty = kbuf::io_kern_bvec_size(&Upstream, &mut w, &[iov(0, 0)], imu);
    assert_eq!(empty, Err(Errno::EFAULT));
    let past = kbuf::io_kern_bvec_size(&Upstream, &mut w, &[iov(16000, 385)], imu);
    assert_eq!(past, Err(Errno::EFAULT));
    // READV_FIXED goes the same way through io_import_reg_vec().
    let mut req = IoKiocb::new(0);
    let it = rsrc::io_import_reg_vec(&Upstream, &mut w, ITER_DEST, &mut req, &iovs).unwrap();
    assert_eq!(it.nr_segs, 4);
}

#[test]
fn a_user_buffer_on_a_huge_page_a_kernel_buffer_names_is_charged_nothing_in_7_1() {
    let s = Scenario::from_toml(&format!(
        "memlock = {{ pmd = 2 }}\n{}",
        scenario(
            2,
            "[[op]]\nop = \"kbuf_register\"\nindex = 0\ndir = \"write\"\nbvecs = [{ folio = 2, off = 0, len = 4096 }]\n\
             [[op]]\nop = \"update\"\noffset = 1\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 4096 } }]\n",
        )
        .to_toml()
    ))
    .unwrap();
    let b = build(&s).unwrap();
    let up = run(&Upstream, &b);
    let slot = up.ops[2].snapshot.slots[1].as_ref().unwrap();
    assert_eq!(slot.acct_pages, Some(0), "headpage_already_acct() found it");
    assert_eq!(up.ops[2].snapshot.pinned_vm, 0);
    assert!(up.ops[2]
        .violations
        .iter()
        .any(|v| v.aspect == "uncharged-pins"));
    // 7.2's per-ring books know nothing of kernel buffers: the page is
    // charged whole to the user buffer.
    let v72 = run(&V72, &b);
    assert_eq!(v72.ops[2].snapshot.pinned_vm, 512);
    assert_clean(&v72);
}
