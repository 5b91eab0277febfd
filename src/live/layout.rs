//! A scenario's address space, built for real in this process and checked
//! to be backed the way the scenario says.
//!
//! Holes stay inside a `PROT_NONE` reservation, so GUP meets them exactly as
//! it meets an unmapped page (-EFAULT) and nothing else of the process can
//! appear there. Physical placement is the kernel's: the comparison works on
//! folio-relative positions, which is all the upstream code can observe.

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

/// The built address space. Dropping it unmaps and closes everything.
#[derive(Debug)]
pub struct LiveLayout {
    /// Real address of the model's `USER_VA_BASE`.
    pub base: usize,
    reserve: (usize, usize),
    fds: Vec<i32>,
    scratch: Vec<(usize, usize)>,
    /// Real start and length of each segment.
    pub segments: Vec<(usize, usize)>,
    /// Whether each segment is mapped (not a hole).
    pub mapped: Vec<bool>,
}

impl Drop for LiveLayout {
    fn drop(&mut self) {
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
        // Addresses near the scenario area move with it; literal addresses
        // far from it (overflow cases) stay as they are.
        if model >= USER_VA_BASE - GIB as u64 && model < USER_VA_BASE + (64 * GIB) as u64 {
            model - USER_VA_BASE + self.base as u64
        } else {
            model
        }
    }

    /// Builds the layout of `b` (a scenario built at real geometry).
    pub fn build(s: &Scenario, b: &Built) -> Result<LiveLayout, Skip> {
        // Tried and measured: after fork() and the child's exit, a FOLL_PIN
        // unshare of an mTHP page on Linux 6.18 sometimes copies the page
        // (a transient reference makes the folio look shared) and sometimes
        // reuses it, so VmPin came out 20 kB where reuse gives 16. The model
        // assumes reuse, which is what matters for the DEBUG_VM check the
        // forked state exists for; the live check cannot judge it.
        if s.folios.iter().any(|f| f.forked) {
            return Err(Skip::Unsupported(
                "a forked folio: whether the kernel reuses or copies a COW-shared page on unshare depends on transient references"
                    .into(),
            ));
        }
        if let Some(f) = s
            .folios
            .iter()
            .find(|f| f.kind == FolioKindSpec::Mthp && f.order != Some(2))
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
        let len = span + 3 * GIB;
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
        };

        // Backing objects: a memfd per shared folio, a faulted-in THP per anonymous one.
        let mut backing: Vec<Backing> = Vec::new();
        for (i, f) in s.folios.iter().enumerate() {
            backing.push(match f.kind {
                FolioKindSpec::Small => {
                    Backing::Fd(me.memfd(&format!("regbuf-small-{i}"), 0, PAGE)?)
                }
                FolioKindSpec::HugetlbPmd => Backing::Fd(me.memfd(
                    "regbuf-hugetlb-2m",
                    libc::MFD_HUGETLB | (21 << 26),
                    2 << 20,
                )?),
                FolioKindSpec::HugetlbPud => Backing::Fd(me.memfd(
                    "regbuf-hugetlb-1g",
                    libc::MFD_HUGETLB | (30 << 26),
                    GIB,
                )?),
                FolioKindSpec::Thp => Backing::Thp(me.anon_large(2 << 20)?),
                FolioKindSpec::Mthp => Backing::Thp(me.anon_large(16 << 10)?),
            });
        }

        let mapping_of = |seg: usize| {
            b.world
                .aspace
                .mappings()
                .iter()
                .find(|m| m.vpn << 12 == b.segments[seg].0)
                .cloned()
        };
        for (i, seg) in s.segments.iter().enumerate() {
            let (va, bytes) = b.segments[i];
            let at = me.translate(va) as usize;
            me.segments.push((at, bytes as usize));
            me.mapped.push(seg.folio.is_some());
            let Some(fi) = seg.folio else { continue };
            let m = mapping_of(i).ok_or_else(|| {
                Skip::Unsupported(format!("segment {i} has no mapping in the model"))
            })?;
            let first = (m.pfn - b.world.phys.folio(FolioId(fi)).head) as usize;
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            match backing[fi as usize] {
                Backing::Fd(fd) => {
                    sys::mmap(
                        at,
                        bytes as usize,
                        rw,
                        libc::MAP_SHARED | libc::MAP_FIXED,
                        fd,
                        (first * PAGE) as i64,
                    )
                    .map_err(|e| {
                        Skip::NotBacked(format!("mmap of segment {i} (folio {fi}) failed: {e}"))
                    })?;
                }
                Backing::Thp(src) => sys::mremap_fixed(src + first * PAGE, bytes as usize, at)
                    .map_err(|e| {
                        Skip::NotBacked(format!("mremap of THP pages into segment {i} failed: {e}"))
                    })?,
            }
        }
        me.fill(s, b)?;
        for (i, seg) in s.segments.iter().enumerate() {
            if seg.readonly && seg.folio.is_some() {
                let (a, l) = me.segments[i];
                sys::mprotect(a, l, libc::PROT_READ)
                    .map_err(|e| Skip::Unsupported(format!("mprotect: {e}")))?;
            }
        }
        me.verify(s, b)?;
        Ok(me)
    }

    fn memfd(&mut self, name: &str, flags: u32, size: usize) -> Result<i32, Skip> {
        let fd = sys::memfd(name, flags, size as u64)
            .map_err(|e| Skip::NotBacked(format!("memfd_create {name}: {e}")))?;
        self.fds.push(fd);
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
    fn fill(&self, s: &Scenario, b: &Built) -> Result<(), Skip> {
        for (i, seg) in s.segments.iter().enumerate() {
            let Some(fi) = seg.folio else { continue };
            let (at, len) = self.segments[i];
            let first = (b
                .world
                .aspace
                .find(b.segments[i].0 >> 12)
                .map_or(0, |m| m.pfn)
                - b.world.phys.folio(FolioId(fi)).head) as usize;
            // SAFETY: the segment is mapped read-write (mprotect comes after).
            let mem = unsafe { std::slice::from_raw_parts_mut(at as *mut u8, len) };
            for (k, byte) in mem.iter_mut().enumerate() {
                *byte = fill_value(fi, first * PAGE + k);
            }
        }
        Ok(())
    }

    /// Checks through pagemap and kpageflags that each segment is backed by
    /// the kind of folio the scenario names, and that all mappings of one
    /// folio see the same physical pages in the same order.
    fn verify(&self, s: &Scenario, b: &Built) -> Result<(), Skip> {
        let open = |p| std::fs::File::open(p).map_err(|e| Skip::Unsupported(format!("{p}: {e}")));
        let (pagemap, flags) = (open("/proc/self/pagemap")?, open("/proc/kpageflags")?);
        let mut base: Vec<Option<u64>> = vec![None; s.folios.len()];
        for (i, seg) in s.segments.iter().enumerate() {
            let Some(fi) = seg.folio else { continue };
            let (at, len) = self.segments[i];
            let m = b
                .world
                .aspace
                .find(b.segments[i].0 >> 12)
                .expect("mapped segment");
            let first = m.pfn - b.world.phys.folio(FolioId(fi)).head;
            for k in [0, len / PAGE - 1] {
                let pfn = sys::pfn_of(&pagemap, at + k * PAGE)
                    .map_err(|e| Skip::Unsupported(format!("pagemap: {e}")))?
                    .ok_or_else(|| {
                        Skip::NotBacked(format!("segment {i} page {k} is not present"))
                    })?;
                let folio_base = pfn - first - k as u64;
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
                let ok = match s.folios[fi as usize].kind {
                    FolioKindSpec::Small => f & (kpf::COMPOUND_HEAD | kpf::COMPOUND_TAIL) == 0,
                    FolioKindSpec::Thp | FolioKindSpec::Mthp => f & kpf::THP != 0,
                    FolioKindSpec::HugetlbPmd | FolioKindSpec::HugetlbPud => f & kpf::HUGE != 0,
                };
                // The folio's order, exactly: a head at its first pfn and no
                // tail right after its last (kpageflags is indexed by pfn).
                let n = b.world.phys.folio_nr_pages(FolioId(fi));
                let ok = ok
                    && (n == 1
                        || (kf(folio_base)? & kpf::COMPOUND_HEAD != 0
                            && kf(folio_base + n)? & kpf::COMPOUND_TAIL == 0));
                if !ok {
                    return Err(Skip::NotBacked(format!(
                        "segment {i}: folio {fi} is not a {:?} here (kpageflags {f:#x})",
                        s.folios[fi as usize].kind
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

enum Backing {
    Fd(i32),
    Thp(usize),
}

/// The initial value of byte `off` of folio `folio`.
pub fn fill_value(folio: u32, off: usize) -> u8 {
    let x = (off as u64).wrapping_mul(0x9e37_79b9)
        ^ (folio as u64).wrapping_mul(0x85eb_ca6b)
        ^ (off as u64 >> 12);
    (x ^ (x >> 13)) as u8
}
