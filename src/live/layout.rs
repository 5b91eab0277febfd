//! A scenario's address space, built for real in this process and checked
//! to be backed the way the scenario says.
//!
//! Holes stay inside a `PROT_NONE` reservation, so GUP meets them exactly as
//! it meets an unmapped page (-EFAULT) and nothing else of the process can
//! appear there. Physical placement is the kernel's: the comparison works on
//! folio-relative positions, which is all the upstream code can observe.
//!
//! The layout is computed once as a [`LayoutPlan`] (pure data: backing
//! objects, where each segment goes, which pages of which folio it maps), so
//! that `regbuf-fuzz repro` writes C that builds exactly what
//! [`LiveLayout::build`] builds here.

use super::fork;
use super::sys::{self, kpf};
use crate::mm::{FolioId, USER_VA_BASE};
use crate::scenario::{Built, FolioKindSpec, Scenario};

const GIB: usize = 1 << 30;
const PAGE: usize = 4096;

/// Why a scenario was not judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// It uses something this machine or this check does not build.
    Unsupported(String),
    /// The kernel did not back it as asked (no THP, a huge page missing).
    NotBacked(String),
}

/// `MFD_HUGETLB` with a 2 MiB page size (`21 << MFD_HUGE_SHIFT`).
pub const MFD_HUGE_2MB: u32 = libc::MFD_HUGETLB | (21 << 26);
/// `MFD_HUGETLB` with a 1 GiB page size.
pub const MFD_HUGE_1GB: u32 = libc::MFD_HUGETLB | (30 << 26);

/// `MAP_HUGETLB` with a 2 MiB page size (`21 << MAP_HUGE_SHIFT`).
pub const MAP_HUGE_2MB: i32 = libc::MAP_HUGETLB | (21 << 26);
/// `MAP_HUGETLB` with a 1 GiB page size.
pub const MAP_HUGE_1GB: i32 = libc::MAP_HUGETLB | (30 << 26);

/// What a fork() leaves a private hugetlb page as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// Never shared.
    No,
    /// Shared with a child that has exited: mapped once, not exclusive.
    Exited,
    /// Shared with a child that maps it until the layout is dropped.
    ChildMaps,
}

/// What backs one folio of the scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A memfd of `size` bytes (shmem, or hugetlb with `flags`), mapped
    /// `MAP_SHARED` wherever the folio appears: the way to map a page twice.
    Memfd {
        /// `memfd_create` name.
        name: String,
        /// `memfd_create` flags.
        flags: u32,
        /// `ftruncate` size.
        size: usize,
        /// `fallocate` it whole before it is mapped, while shmem's huge page
        /// knobs say `within_size`, so that shmem allocates the file as one
        /// large folio (a fault through a partial mapping would not).
        populate: bool,
    },
    /// Anonymous memory of `size` bytes at its alignment under
    /// `MADV_HUGEPAGE`, faulted in (a THP or an mTHP of that size), whose
    /// pages are then moved into place with `mremap`.
    Anon {
        /// Folio size.
        size: usize,
    },
    /// A `MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB` mapping of one huge
    /// page, made in place and faulted by the fill's writes, then shared
    /// by a fork() as `fork` says.
    PrivateHuge {
        /// `MAP_HUGETLB` with the page size.
        flags: i32,
        /// The huge page's size.
        size: usize,
        /// What fork() does to it.
        fork: Fork,
    },
}

/// One folio: its kind, size and backing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolioPlan {
    /// What the scenario asks for.
    pub kind: FolioKindSpec,
    /// Pages in the folio.
    pub nr_pages: usize,
    /// How it is obtained.
    pub backing: Backing,
}

/// One segment, placed relative to the base of the reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentPlan {
    /// Byte offset from the base (the model's `USER_VA_BASE`).
    pub offset: usize,
    /// Length in bytes.
    pub bytes: usize,
    /// The folio mapped here; `None` for a hole.
    pub folio: Option<u32>,
    /// First page of the folio mapped here.
    pub first_page: usize,
    /// Mapped `PROT_READ` only (after the fill).
    pub readonly: bool,
}

/// The largest address space the live check builds: a few 1 GiB pages and
/// their neighbours.
const MAX_SPAN: usize = 8 * GIB;

/// Everything needed to build a scenario's address space, computed from
/// the scenario alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutPlan {
    /// Bytes of `PROT_NONE` address space to reserve; the base is the first
    /// 1 GiB boundary at least 1 GiB into it, so every alignment holds.
    pub reserve: usize,
    /// Per folio, in scenario order.
    pub folios: Vec<FolioPlan>,
    /// Per segment, in address order.
    pub segments: Vec<SegmentPlan>,
}

/// A model address as seen by the process that builds the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// This many bytes from the base.
    Base(u64),
    /// A literal address (overflow cases far from the scenario area).
    Literal(u64),
}

impl LayoutPlan {
    /// The plan for `b` (a scenario built at real geometry).
    pub fn new(s: &Scenario, b: &Built) -> Result<LayoutPlan, Skip> {
        // This machine's kernel is x86-64's: another architecture's layout
        // (its page size, its contiguous hugetlb pages) cannot be built here.
        if !s.geometry.is_x86() {
            return Err(Skip::Unsupported(format!(
                "field `geometry`: `{}` is not x86-64; only `real` (and `small`, moved to it) run on this machine",
                s.geometry
            )));
        }
        if let Some(f) = s.folios.iter().find(|f| {
            matches!(
                f.kind,
                FolioKindSpec::HugetlbContPte | FolioKindSpec::HugetlbContPmd
            )
        }) {
            return Err(Skip::Unsupported(format!(
                "folio kind `{}` is arm64's; x86-64 has none",
                f.kind.as_str()
            )));
        }
        // Tried and measured: after fork() and the child's exit, a FOLL_PIN
        // unshare of an mTHP page on Linux 6.18 sometimes copies the page
        // (a transient reference makes the folio look shared) and sometimes
        // reuses it, so VmPin came out 20 kB where reuse gives 16. The model
        // assumes reuse, which is what matters for the DEBUG_VM check the
        // forked state exists for; the live check cannot judge it.
        // hugetlb decides by the page's mapcount alone (hugetlb_wp()), so
        // a forked private hugetlb page is judged.
        if s.folios.iter().any(|f| f.forked && f.kind.is_anon_thp()) {
            return Err(Skip::Unsupported(
                "a forked THP or mTHP: whether the kernel reuses or copies a COW-shared page on unshare depends on transient references"
                    .into(),
            ));
        }
        if let Some(f) = s
            .folios
            .iter()
            .find(|f| f.kind.takes_order() && f.order != Some(2))
        {
            return Err(Skip::Unsupported(format!(
                "mTHP of order {:?}: only 16 KiB mTHP is enabled for the run",
                f.order
            )));
        }
        let span = b
            .segments
            .last()
            .map_or(0, |&(a, l)| (a + l - USER_VA_BASE) as usize);
        // The check snapshots every mapped byte around each import.
        if span > MAX_SPAN {
            return Err(Skip::Unsupported(format!(
                "an address space of {} MiB: the live check maps and snapshots at most {} MiB",
                span >> 20,
                MAX_SPAN >> 20
            )));
        }
        let folios = s
            .folios
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let nr_pages = b.world.phys.folio_nr_pages(FolioId(i as u32)) as usize;
                let backing = match f.kind {
                    FolioKindSpec::Small => Backing::Memfd {
                        name: format!("regbuf-small-{i}"),
                        flags: 0,
                        size: PAGE,
                        populate: false,
                    },
                    FolioKindSpec::HugetlbPmd => Backing::Memfd {
                        name: "regbuf-hugetlb-2m".into(),
                        flags: MFD_HUGE_2MB,
                        size: 2 << 20,
                        populate: false,
                    },
                    FolioKindSpec::HugetlbPud => Backing::Memfd {
                        name: "regbuf-hugetlb-1g".into(),
                        flags: MFD_HUGE_1GB,
                        size: GIB,
                        populate: false,
                    },
                    FolioKindSpec::ShmemThp | FolioKindSpec::ShmemMthp => Backing::Memfd {
                        name: format!("regbuf-shmem-{i}"),
                        flags: 0,
                        size: nr_pages * PAGE,
                        populate: true,
                    },
                    k @ (FolioKindSpec::HugetlbPmdPrivate | FolioKindSpec::HugetlbPudPrivate) => {
                        let (flags, size) = if k == FolioKindSpec::HugetlbPmdPrivate {
                            (MAP_HUGE_2MB, 2 << 20)
                        } else {
                            (MAP_HUGE_1GB, GIB)
                        };
                        let fork = match (f.forked, f.child_maps) {
                            (false, _) => Fork::No,
                            (true, false) => Fork::Exited,
                            (true, true) => Fork::ChildMaps,
                        };
                        Backing::PrivateHuge { flags, size, fork }
                    }
                    FolioKindSpec::Thp => Backing::Anon { size: 2 << 20 },
                    FolioKindSpec::Mthp => Backing::Anon { size: 16 << 10 },
                    // Refused above: arm64 only.
                    FolioKindSpec::HugetlbContPte | FolioKindSpec::HugetlbContPmd => {
                        Backing::Anon { size: 0 }
                    }
                };
                FolioPlan {
                    kind: f.kind,
                    nr_pages,
                    backing,
                }
            })
            .collect();
        let mut segments = Vec::with_capacity(s.segments.len());
        for (i, seg) in s.segments.iter().enumerate() {
            let (va, bytes) = b.segments[i];
            let first_page = match seg.folio {
                None => 0,
                Some(fi) => {
                    let m = b
                        .world
                        .aspace
                        .mappings()
                        .iter()
                        .find(|m| m.vpn << 12 == va)
                        .ok_or_else(|| {
                            Skip::Unsupported(format!("segment {i} has no mapping in the model"))
                        })?;
                    (m.pfn - b.world.phys.folio(FolioId(fi)).head) as usize
                }
            };
            // A counted segment is that many mmaps of the same pages.
            let copies = if seg.folio.is_some() { seg.count } else { 1 };
            let copy = bytes / copies;
            for k in 0..copies {
                segments.push(SegmentPlan {
                    offset: (va + k * copy - USER_VA_BASE) as usize,
                    bytes: copy as usize,
                    folio: seg.folio,
                    first_page,
                    readonly: seg.readonly && seg.folio.is_some(),
                });
            }
        }
        Ok(LayoutPlan {
            reserve: span + 3 * GIB,
            folios,
            segments,
        })
    }

    /// Where a model address lies: addresses near the scenario area move
    /// with it; literal addresses far from it (overflow cases) stay as they are.
    pub fn place(model: u64) -> Place {
        if model >= USER_VA_BASE - GIB as u64 && model < USER_VA_BASE + (64 * GIB) as u64 {
            Place::Base(model.wrapping_sub(USER_VA_BASE))
        } else {
            Place::Literal(model)
        }
    }
}

/// The built address space. Dropping it unmaps and closes everything.
#[derive(Debug)]
pub struct LiveLayout {
    /// Real address of the model's `USER_VA_BASE`.
    pub base: usize,
    pub(super) reserve: (usize, usize),
    fds: Vec<i32>,
    scratch: Vec<(usize, usize)>,
    /// Real start and length of each segment.
    pub segments: Vec<(usize, usize)>,
    /// Whether each segment is mapped (not a hole).
    pub mapped: Vec<bool>,
    /// When the layout forked: each mapped segment's folio, its first
    /// address, and the page frame there after the fork. A pin may move
    /// only a page a live child maps (hugetlb's COW); that every other page
    /// stays shows that no other page of the layout was shared with a child.
    pub frames: Vec<(u32, usize, u64)>,
    pub(super) children: Vec<fork::Child>,
    pub(super) forked: bool,
}

impl Drop for LiveLayout {
    fn drop(&mut self) {
        // The children first: they hold the pages (and every descriptor)
        // the teardown check expects to be given back.
        self.children.clear();
        for &(a, l) in &self.scratch {
            sys::munmap(a, l);
        }
        sys::munmap(self.reserve.0, self.reserve.1);
        for &fd in &self.fds {
            sys::close(fd);
        }
    }
}

impl LiveLayout {
    /// A model address in this process.
    pub fn translate(&self, model: u64) -> u64 {
        match LayoutPlan::place(model) {
            Place::Base(off) => self.base as u64 + off,
            Place::Literal(a) => a,
        }
    }

    /// Builds the layout of `b` (a scenario built at real geometry).
    pub fn build(s: &Scenario, b: &Built) -> Result<LiveLayout, Skip> {
        Self::from_plan(&LayoutPlan::new(s, b)?)
    }

    /// Builds `plan` in this process.
    pub fn from_plan(plan: &LayoutPlan) -> Result<LiveLayout, Skip> {
        let len = plan.reserve;
        let area = sys::mmap(
            0,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
        .map_err(|e| {
            Skip::Unsupported(format!("cannot reserve {len} bytes of address space: {e}"))
        })?;
        let base = (area + GIB).next_multiple_of(GIB);
        let mut me = LiveLayout {
            base,
            reserve: (area, len),
            fds: vec![],
            scratch: vec![],
            segments: vec![],
            mapped: vec![],
            frames: vec![],
            children: vec![],
            forked: false,
        };

        // Backing objects: a memfd per shared folio, a faulted-in THP per anonymous one.
        let mut backing: Vec<Object> = Vec::new();
        for f in &plan.folios {
            backing.push(match &f.backing {
                Backing::Memfd {
                    name,
                    flags,
                    size,
                    populate,
                } => Object::Fd(me.memfd(name, *flags, *size, *populate)?),
                Backing::Anon { size } => Object::Thp(me.anon_large(*size)?),
                Backing::PrivateHuge { flags, .. } => Object::Private(*flags),
            });
        }

        for (i, seg) in plan.segments.iter().enumerate() {
            let at = base + seg.offset;
            me.segments.push((at, seg.bytes));
            me.mapped.push(seg.folio.is_some());
            let Some(fi) = seg.folio else { continue };
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            match backing[fi as usize] {
                Object::Fd(fd) => {
                    sys::mmap(
                        at,
                        seg.bytes,
                        rw,
                        libc::MAP_SHARED | libc::MAP_FIXED,
                        fd,
                        (seg.first_page * PAGE) as i64,
                    )
                    .map_err(|e| {
                        Skip::NotBacked(format!("mmap of segment {i} (folio {fi}) failed: {e}"))
                    })?;
                }
                Object::Thp(src) => sys::mremap_fixed(src + seg.first_page * PAGE, seg.bytes, at)
                    .map_err(|e| {
                    Skip::NotBacked(format!("mremap of THP pages into segment {i} failed: {e}"))
                })?,
                // In place, as liburing's fixed-hugepage.c maps its buffers;
                // the fill's writes fault the page in, exclusive.
                Object::Private(flags) => {
                    sys::mmap(
                        at,
                        seg.bytes,
                        rw,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | flags,
                        -1,
                        0,
                    )
                    .map_err(|e| {
                        Skip::NotBacked(format!(
                            "MAP_PRIVATE hugetlb mmap of segment {i} (folio {fi}) failed: {e}"
                        ))
                    })?;
                }
            }
        }
        me.fill(plan);
        for (i, seg) in plan.segments.iter().enumerate() {
            if seg.readonly {
                let (a, l) = me.segments[i];
                sys::mprotect(a, l, libc::PROT_READ)
                    .map_err(|e| Skip::Unsupported(format!("mprotect: {e}")))?;
            }
        }
        me.fork_children(plan)?;
        me.verify(plan)?;
        me.record_frames(plan)?;
        Ok(me)
    }

    fn memfd(&mut self, name: &str, flags: u32, size: usize, populate: bool) -> Result<i32, Skip> {
        let fd = sys::memfd(name, flags, size as u64)
            .map_err(|e| Skip::NotBacked(format!("memfd_create {name}: {e}")))?;
        self.fds.push(fd);
        if populate {
            sys::fallocate(fd, size as u64)
                .map_err(|e| Skip::NotBacked(format!("fallocate {name}: {e}")))?;
        }
        Ok(fd)
    }

    /// An anonymous area of `size` bytes at its alignment under
    /// MADV_HUGEPAGE, faulted in: a PMD THP, or an mTHP of that size.
    fn anon_large(&mut self, size: usize) -> Result<usize, Skip> {
        let len = 2 * size;
        let p = sys::mmap(
            0,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
        .map_err(|e| Skip::NotBacked(format!("mmap for a large folio: {e}")))?;
        self.scratch.push((p, len));
        let src = p.next_multiple_of(size);
        sys::madvise(src, size, libc::MADV_HUGEPAGE)
            .map_err(|e| Skip::NotBacked(format!("MADV_HUGEPAGE: {e}")))?;
        // SAFETY: src is inside the area just mapped read-write.
        unsafe { std::ptr::write_volatile(src as *mut u8, 1) };
        Ok(src)
    }

    /// Writes every mapped byte with a value that depends only on the folio
    /// page and offset behind it, so aliases agree.
    fn fill(&self, plan: &LayoutPlan) {
        for (i, seg) in plan.segments.iter().enumerate() {
            let Some(fi) = seg.folio else { continue };
            let (at, len) = self.segments[i];
            // SAFETY: the segment is mapped read-write (mprotect comes after).
            let mem = unsafe { std::slice::from_raw_parts_mut(at as *mut u8, len) };
            for (k, byte) in mem.iter_mut().enumerate() {
                *byte = fill_value(fi, seg.first_page * PAGE + k);
            }
        }
    }

    /// Checks through pagemap and kpageflags that each segment is backed by
    /// the kind of folio the scenario names, and that all mappings of one
    /// folio see the same physical pages in the same order.
    fn verify(&mut self, plan: &LayoutPlan) -> Result<(), Skip> {
        let open = |p| std::fs::File::open(p).map_err(|e| Skip::Unsupported(format!("{p}: {e}")));
        let (pagemap, flags) = (open("/proc/self/pagemap")?, open("/proc/kpageflags")?);
        let mut base: Vec<Option<u64>> = vec![None; plan.folios.len()];
        for (i, seg) in plan.segments.iter().enumerate() {
            let Some(fi) = seg.folio else { continue };
            let folio = &plan.folios[fi as usize];
            let (at, len) = self.segments[i];
            for k in [0, len / PAGE - 1] {
                let pfn = sys::pfn_of(&pagemap, at + k * PAGE)
                    .map_err(|e| Skip::Unsupported(format!("pagemap: {e}")))?
                    .ok_or_else(|| {
                        Skip::NotBacked(format!("segment {i} page {k} is not present"))
                    })?;
                let folio_base = pfn - (seg.first_page + k) as u64;
                if *base[fi as usize].get_or_insert(folio_base) != folio_base {
                    return Err(Skip::NotBacked(format!(
                        "segment {i} does not map folio {fi}'s pages in order"
                    )));
                }
                let kf = |p: u64| {
                    sys::kpageflags(&flags, p)
                        .map_err(|e| Skip::Unsupported(format!("kpageflags: {e}")))
                };
                let f = kf(pfn)?;
                let ok = match folio.kind {
                    FolioKindSpec::Small => f & (kpf::COMPOUND_HEAD | kpf::COMPOUND_TAIL) == 0,
                    // kpageflags says THP for any large rmappable folio,
                    // shmem's included.
                    FolioKindSpec::Thp
                    | FolioKindSpec::Mthp
                    | FolioKindSpec::ShmemThp
                    | FolioKindSpec::ShmemMthp => f & kpf::THP != 0,
                    // A memfd's hugetlb page is a file page; a private
                    // one, once written, an anonymous folio.
                    FolioKindSpec::HugetlbPmd
                    | FolioKindSpec::HugetlbPud
                    | FolioKindSpec::HugetlbContPte
                    | FolioKindSpec::HugetlbContPmd => f & kpf::HUGE != 0 && f & kpf::ANON == 0,
                    FolioKindSpec::HugetlbPmdPrivate | FolioKindSpec::HugetlbPudPrivate => {
                        f & (kpf::HUGE | kpf::ANON) == kpf::HUGE | kpf::ANON
                    }
                };
                // The folio's order, exactly: a head at its first pfn and no
                // tail right after its last (kpageflags is indexed by pfn).
                let n = folio.nr_pages as u64;
                let ok = ok
                    && (n == 1
                        || (kf(folio_base)? & kpf::COMPOUND_HEAD != 0
                            && kf(folio_base + n)? & kpf::COMPOUND_TAIL == 0));
                if !ok {
                    return Err(Skip::NotBacked(format!(
                        "segment {i}: folio {fi} is not a {:?} here (kpageflags {f:#x})",
                        folio.kind
                    )));
                }
            }
        }
        Ok(())
    }

    /// A copy of every mapped segment's bytes.
    pub fn snapshot(&self) -> Vec<Vec<u8>> {
        self.segments
            .iter()
            .zip(&self.mapped)
            .map(|(&(a, l), &m)| {
                if !m {
                    return vec![];
                }
                // SAFETY: mapped segments are readable for the layout's life.
                unsafe { std::slice::from_raw_parts(a as *const u8, l) }.to_vec()
            })
            .collect()
    }
}

enum Object {
    Fd(i32),
    Thp(usize),
    Private(i32),
}

/// The initial value of byte `off` of folio `folio`.
pub fn fill_value(folio: u32, off: usize) -> u8 {
    let x = (off as u64).wrapping_mul(0x9e37_79b9)
        ^ (folio as u64).wrapping_mul(0x85eb_ca6b)
        ^ (off as u64 >> 12);
    (x ^ (x >> 13)) as u8
}
