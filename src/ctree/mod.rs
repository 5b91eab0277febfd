//! The kernel's own C as a variant: `io_uring/rsrc.c` and `io_uring/memmap.c`
//! from a kernel tree, with any patches as posted, compiled in user space
//! against a shim (the `tools/testing/vma` way) and run on the same
//! simulated machine as the Rust model, judged by the same invariants.
//!
//! - [`build`]: tree and patches to a loaded shared object, cached.
//! - [`patch`]: patches as posted (mail copies included) onto the tree's files.
//! - [`extract`]: the functions the path reaches, out of the whole file.
//! - [`ffi`]: the callbacks the C makes into the machine.
//! - [`guard`]: the C's memory faults, caught and told as KASAN would.
//! - [`mirror`]: the C's ring state read back into the machine after each
//!   operation, so that every oracle reads one representation.
//! - `shim/`: the headers the C is compiled against, and the glue that
//!   plays the rest of the kernel (ring setup and exit, a request's life).
//!
//! Supported: both designs of the path, a buffer table of nodes (6.13 and
//! later: 7.1, 7.2; `shim/rf_glue.c`) and `ctx->user_bufs` with reference
//! nodes per generation (6.12 and before; `shim/rf_glue_612.c`, read back
//! by `mirror_612`). A tree the shim cannot serve fails to build, and the
//! error names what the shim lacks for it.

pub mod build;
pub mod cli;
pub mod extract;
pub mod ffi;
pub mod guard;
pub mod mirror;
mod mirror_612;
pub mod patch;

use crate::mm::{AllocId, Geometry};
use crate::model::iov_iter::{IovIter, PhysRange};
use crate::model::types::{InflightReq, IoKiocb, RING_REGION_PAGES};
use crate::model::{BioVec, Errno, Event, Iovec, World};
use crate::scenario::ConcreteOp;
use crate::variants::{KnownBug, Variant};
use std::collections::VecDeque;
use std::ffi::{c_int, c_long, c_uint, c_ulong, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Why a tree or a patch cannot be made into a variant. Every variant names
/// the file (or tool) and the reason.
#[allow(missing_docs)]
#[derive(Debug)]
pub enum TreeError {
    /// The tree lacks a file, or it cannot be read.
    Tree { path: PathBuf, reason: String },
    /// A patch cannot be read or does not apply (names the file and hunk).
    Patch { patch: PathBuf, reason: String },
    /// A source file is not C this reading can split.
    Parse { file: String, reason: String },
    /// The C does not compile against the shim: the names it lacks.
    Compile {
        dir: PathBuf,
        missing: Vec<String>,
        log: String,
    },
    /// A tool (the compiler, patch, the loader) failed.
    Tool { tool: String, reason: String },
}

impl std::fmt::Display for TreeError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            TreeError::Tree { path, reason } => write!(f, "{}: {reason}", path.display()),
            TreeError::Patch { patch, reason } => write!(f, "{}: {reason}", patch.display()),
            TreeError::Parse { file, reason } => write!(f, "{file}: {reason}"),
            TreeError::Compile { dir, missing, log } => {
                if missing.is_empty() {
                    write!(
                        f,
                        "the tree's C does not compile against the shim (in {}):\n{}",
                        dir.display(),
                        log.lines()
                            .filter(|l| l.contains("error"))
                            .take(12)
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                } else {
                    write!(
                        f,
                        "unsupported tree: the shim lacks {} (build in {}); first errors:\n{}",
                        missing.join(", "),
                        dir.display(),
                        log.lines()
                            .filter(|l| l.contains("error"))
                            .take(6)
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                }
            }
            TreeError::Tool { tool, reason } => write!(f, "{tool}: {reason}"),
        }
    }
}

impl std::error::Error for TreeError {}

/// The C side's `struct rf_iter`.
#[repr(C)]
#[derive(Default, Debug)]
struct RfIter {
    bvec: usize,
    nr_segs: c_ulong,
    count: c_ulong,
    iov_offset: c_ulong,
    data_source: c_uint,
}

/// `struct bio_vec` as the shim lays it out.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct RfBioVec {
    /// `bv_page`.
    pub bv_page: usize,
    /// `bv_len`.
    pub bv_len: u32,
    /// `bv_offset`.
    pub bv_offset: u32,
}

/// The glue's entry points in one loaded object.
#[allow(clippy::type_complexity)]
pub struct Lib {
    ring_create: unsafe extern "C" fn(c_int, c_ulong) -> usize,
    ring_free: unsafe extern "C" fn(usize, c_ulong, *mut c_long, *mut i64),
    register: unsafe extern "C" fn(usize, *const Iovec, c_uint) -> c_int,
    update: unsafe extern "C" fn(usize, c_uint, *const Iovec, c_uint) -> c_int,
    unregister: unsafe extern "C" fn(usize) -> c_int,
    req_new: unsafe extern "C" fn(usize, c_uint) -> usize,
    req_free: unsafe extern "C" fn(usize),
    req_node: unsafe extern "C" fn(usize) -> usize,
    import_reg_buf: unsafe extern "C" fn(usize, u64, u64, c_int, *mut RfIter) -> c_int,
    import_reg_vec: unsafe extern "C" fn(
        usize,
        c_int,
        *const Iovec,
        c_uint,
        *mut RfBioVec,
        c_ulong,
        *mut RfIter,
    ) -> c_int,
    import_fixed: unsafe extern "C" fn(usize, c_int, u64, u64, *mut RfIter) -> c_int,
    vec_fill_bvec: unsafe extern "C" fn(
        usize,
        c_int,
        *const Iovec,
        c_uint,
        *mut RfBioVec,
        *mut RfIter,
    ) -> c_int,
    pub(crate) ctx_read: unsafe extern "C" fn(usize, *mut mirror::CtxView),
    pub(crate) node_read: unsafe extern "C" fn(usize, *mut mirror::NodeView),
    pub(crate) imu_read: unsafe extern "C" fn(usize, *mut mirror::ImuView),
    pub(crate) imu_bvec_offset: u64,
    iter_walk: unsafe extern "C" fn(*const RfIter) -> c_long,
    try_fn: guard::TryFn,
    kasan_take: guard::KasanTakeFn,
    symbols: guard::Symbols,
    /// The accessors of a tree of 6.12 and before (`ctx->user_bufs`).
    pub(crate) v612: Option<mirror_612::Lib612>,
}

/// Pages the reserved `mem_map` range covers, from [`crate::mm::PFN_BASE`].
pub const MEM_MAP_PAGES: u64 = 1 << 27;
pub(crate) const STRUCT_PAGE: u64 = 64;

/// The reserved, never-mapped range whose 64-byte slots are the C's
/// `struct page`s; one for the process.
pub fn mem_map() -> usize {
    static MAP: OnceLock<usize> = OnceLock::new();
    *MAP.get_or_init(|| {
        let len = (MEM_MAP_PAGES * STRUCT_PAGE) as usize;
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert!(
            p != libc::MAP_FAILED,
            "cannot reserve {len} bytes of address space for struct pages"
        );
        p as usize
    })
}

/// The pfn of a C `struct page *`.
pub fn page_to_pfn(p: usize) -> u64 {
    (p.wrapping_sub(mem_map()) as u64) / STRUCT_PAGE + crate::mm::PFN_BASE
}

fn load(so: &Path) -> Result<Lib, TreeError> {
    let path = CString::new(so.as_os_str().to_string_lossy().as_bytes()).expect("no NUL in a path");
    let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        let e = unsafe { std::ffi::CStr::from_ptr(libc::dlerror()) }
            .to_string_lossy()
            .into_owned();
        return Err(TreeError::Tool {
            tool: "dlopen".into(),
            reason: format!("{}: {e}", so.display()),
        });
    }
    let sym = |name: &str| -> Result<*mut c_void, TreeError> {
        let c = CString::new(name).unwrap();
        let p = unsafe { libc::dlsym(h, c.as_ptr()) };
        if p.is_null() {
            return Err(TreeError::Tool {
                tool: "dlsym".into(),
                reason: format!("{}: no symbol {name}", so.display()),
            });
        }
        Ok(p)
    };
    macro_rules! f {
        ($n:literal) => {
            unsafe { std::mem::transmute::<*mut c_void, _>(sym($n)?) }
        };
    }
    // First: the instrumented code reads the shadow from its first line.
    guard::install(f!("rf_guard_install"), so)?;
    let setup: unsafe extern "C" fn(*const ffi::RfCallbacks, usize, c_ulong) = f!("rf_setup");
    unsafe { setup(&ffi::CALLBACKS, mem_map(), crate::mm::PFN_BASE as c_ulong) };
    let bvec_off: unsafe extern "C" fn() -> c_ulong = f!("rf_imu_bvec_offset");
    Ok(Lib {
        ring_create: f!("rf_ring_create"),
        ring_free: f!("rf_ring_free"),
        register: f!("rf_register"),
        update: f!("rf_update"),
        unregister: f!("rf_unregister"),
        req_new: f!("rf_req_new"),
        req_free: f!("rf_req_free"),
        req_node: f!("rf_req_node"),
        import_reg_buf: f!("rf_import_reg_buf"),
        import_reg_vec: f!("rf_import_reg_vec"),
        import_fixed: f!("rf_import_fixed"),
        vec_fill_bvec: f!("rf_vec_fill_bvec"),
        ctx_read: f!("rf_ctx_read"),
        node_read: f!("rf_node_read"),
        imu_read: f!("rf_imu_read"),
        imu_bvec_offset: unsafe { bvec_off() } as u64,
        iter_walk: f!("iterate_bvec"),
        try_fn: f!("rf_try"),
        kasan_take: f!("rf_kasan_take"),
        symbols: guard::Symbols::new(so),
        v612: if unsafe { libc::dlsym(h, c"rf_user_bufs_design".as_ptr()) }.is_null() {
            None
        } else {
            Some(mirror_612::Lib612 {
                ctx_read: f!("rf_ctx_read_612"),
                ref_list_read: f!("rf_ref_list_read"),
                slot_tag: f!("rf_slot_tag"),
            })
        },
    })
}

/// One run's C state: the ring and what it allocated.
pub struct CRun {
    lib: &'static Lib,
    ctx: usize,
    objects: ffi::Objects,
    inflight: VecDeque<usize>,
    /// The C faulted while changing its state: an oops, after which the
    /// kernel runs nothing more of this ring's.
    dead: bool,
}

impl CRun {
    /// One call into the C, with the machine serving its callbacks. A bad
    /// access KASAN's checks catch is recorded as the report KASAN would
    /// print, and the C goes on. A fault (a NULL or wild pointer) is an
    /// oops; a `fatal` one (the C was changing its state) ends the C's part
    /// of the run. `None` when it faulted.
    fn call<R: Copy + Default>(
        &mut self,
        w: &mut World,
        fatal: bool,
        mut f: impl FnMut() -> R,
    ) -> Option<R> {
        let lib = self.lib;
        let mut out = R::default();
        let r = ffi::enter(w, &mut self.objects, || {
            guard::call(lib.try_fn, || out = f())
        });
        // KASAN reports and lets the kernel go on; so does this.
        let mut bad = guard::RfFault::default();
        let n = unsafe { (lib.kasan_take)(&mut bad) };
        if n > 0 {
            let more = if n > 1 {
                format!(" ({n} bad accesses in this call)")
            } else {
                String::new()
            };
            let site = guard::report(&self.objects.heap, &lib.symbols, &bad);
            w.oops(&format!("{site}{more}"));
        }
        match r {
            Ok(()) => Some(out),
            Err(fault) => {
                w.oops(&guard::report(&self.objects.heap, &lib.symbols, &fault));
                self.dead |= fatal;
                w.dead |= fatal;
                None
            }
        }
    }

    /// What the I/O reads of a bvec iterator into the C's memory
    /// (`iterate_bvec`): a fault or a NULL page there is an oops.
    fn walk(&mut self, w: &mut World, it: &RfIter) {
        let lib = self.lib;
        if let Some(r) = self.call(w, false, || unsafe { (lib.iter_walk)(it) }) {
            if r < 0 {
                w.oops(&format!(
                    "null-ptr-deref in iterate_bvec: kmap_local_page() of bvec[{}].bv_page, which is NULL",
                    -r - 1
                ));
            }
        }
    }
}

/// The known bugs of a tree of 6.12's design.
static OLD_DESIGN_BUGS: &[KnownBug] = &[
    crate::variants::RLIMIT_BYPASS_7_1,
    KnownBug {
        aspect: "import/nr-segs",
        fixed_by: "80c7378f94cf (6.15)",
        summary: "io_import_fixed() sends nr_segs = imu->nr_bvecs for an import from the buffer's start, \
                  not the bvecs the range uses (harmless to a bvec walk, which honours count)",
        after: &[],
    },
];

/// What an operation on a ring whose C oopsed returns: nothing more runs.
const DEAD: i64 = -(libc::EFAULT as i64);

impl Drop for CRun {
    fn drop(&mut self) {
        // A run cut short keeps its ring; the memory goes with the run.
        self.objects.release_all();
    }
}

/// A machine's C run, kept in the [`World`] it acts on.
#[derive(Clone)]
pub struct RunHandle(Arc<Mutex<CRun>>);

// SAFETY: a run is only touched by the thread that runs its scenario; the
// raw pointers it holds never cross to another thread while in use.
unsafe impl Send for RunHandle {}
unsafe impl Sync for RunHandle {}

impl std::fmt::Debug for RunHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("RunHandle")
    }
}

/// A kernel tree (and patches) as a variant.
pub struct CVariant {
    name: &'static str,
    summary: &'static str,
    /// The tree and patches it was built from.
    pub source: build::Source,
    /// The Rust variant of the same version: its known bugs and its
    /// accounting rule are this variant's.
    pub twin: &'static dyn Variant,
    has_acct_pages: bool,
    /// One build per set of defines the C sees (page shift, `SZ_1G`,
    /// `INT_MAX`): x86-64's two at once, another architecture's on the
    /// first scenario that needs it.
    libs: std::sync::Mutex<Vec<(Geometry, &'static Lib)>>,
    /// The functions taken from the tree.
    pub functions: std::collections::BTreeSet<String>,
}

impl CVariant {
    /// Builds `tree` plus `patches` for every geometry scenarios use.
    pub fn new(
        name: &'static str,
        tree: &Path,
        patches: &[PathBuf],
        twin: &'static dyn Variant,
    ) -> Result<CVariant, TreeError> {
        let source = build::prepare(tree, patches)?;
        let mut libs = Vec::new();
        let mut functions = Default::default();
        for geo in [Geometry::REAL, Geometry::SMALL] {
            let b = build::build(&source, &geo)?;
            functions = b.functions;
            libs.push((geo, &*Box::leak(Box::new(load(&b.so)?))));
        }
        let has_acct_pages = source.files["io_uring/rsrc.h"].contains("acct_pages");
        let summary = format!(
            "the kernel's C from {}{}",
            tree.display(),
            patches
                .iter()
                .map(|p| format!(" + {}", p.display()))
                .collect::<String>()
        );
        Ok(CVariant {
            name,
            summary: Box::leak(summary.into_boxed_str()),
            source,
            twin,
            has_acct_pages,
            libs: std::sync::Mutex::new(libs),
            functions,
        })
    }

    /// Whether the tree has a vectored fixed import (READV_FIXED, 6.15):
    /// not those of 6.12's design.
    pub fn has_vectored_import(&self) -> bool {
        self.libs
            .lock()
            .expect("no build panics holding it")
            .iter()
            .all(|(_, l)| l.v612.is_none())
    }

    fn lib(&self, geo: &Geometry) -> &'static Lib {
        // The C sees only the build's defines: geometries that agree on
        // them (x86-64 real and arm64 with 4 KiB pages) share a build.
        let same = |g: &Geometry| g.page_shift == geo.page_shift && g.sz_1g() == geo.sz_1g();
        let mut libs = self.libs.lock().expect("no build panics holding it");
        if let Some((_, l)) = libs.iter().find(|(g, _)| same(g)) {
            return l;
        }
        // The tree built at x86-64's geometries in `new`; a failure here
        // is the shim's, not the scenario's.
        let l: &'static Lib = build::build(&self.source, geo)
            .and_then(|b| load(&b.so))
            .map(|l| &*Box::leak(Box::new(l)))
            .unwrap_or_else(|e| panic!("{}: no build for geometry {}: {e}", self.name, geo.name()));
        libs.push((*geo, l));
        l
    }

    fn run_of(&self, w: &mut World) -> RunHandle {
        if let Some(h) = &w.c_run {
            return h.clone();
        }
        if let Some(f) = w.phys.folios().last() {
            assert!(
                f.head + (1 << f.order) <= crate::mm::PFN_BASE + MEM_MAP_PAGES,
                "{}: the layout's pfns pass the reserved struct page range",
                self.name
            );
        }
        let lib = self.lib(&w.geo);
        let mut run = CRun {
            lib,
            ctx: 0,
            objects: ffi::Objects {
                user_bufs: lib.v612.is_some(),
                ..Default::default()
            },
            inflight: VecDeque::new(),
            dead: false,
        };
        let with_user = w.ctx.user.is_some() as c_int;
        run.ctx = run
            .call(w, true, || unsafe {
                (lib.ring_create)(with_user, RING_REGION_PAGES as c_ulong)
            })
            .unwrap_or(0);
        assert!(run.ctx != 0, "{}: ring setup failed", self.name);
        let h = RunHandle(Arc::new(Mutex::new(run)));
        w.c_run = Some(h.clone());
        h
    }

    /// One operation through the C.
    pub fn apply(&self, w: &mut World, op: &ConcreteOp) -> (i64, Option<Vec<PhysRange>>) {
        let h = self.run_of(w);
        let mut run = h.0.lock().unwrap();
        let run = &mut *run;
        let (lib, ctx) = (run.lib, run.ctx);
        if run.dead {
            return (DEAD, None);
        }
        let ret = match op {
            ConcreteOp::Ring { .. } | ConcreteOp::Clone(_) => {
                panic!(
                    "{}: a second ring reached the C harness, which oracle::check refuses",
                    self.name
                )
            }
            ConcreteOp::KbufRegister { .. }
            | ConcreteOp::KbufUnregister { .. }
            | ConcreteOp::KbufImport { .. }
            | ConcreteOp::KbufReadv { .. } => {
                panic!(
                    "{}: a kernel buffer reached the C harness, which oracle::check refuses",
                    self.name
                )
            }
            ConcreteOp::Register { iovecs } => {
                let r = run.call(w, true, || unsafe {
                    (lib.register)(ctx, iovecs.as_ptr(), iovecs.len() as c_uint)
                });
                (r.map_or(DEAD, i64::from), None)
            }
            ConcreteOp::RegisterSparse { nr } => {
                let r = run.call(w, true, || unsafe {
                    (lib.register)(ctx, std::ptr::null(), *nr)
                });
                (r.map_or(DEAD, i64::from), None)
            }
            ConcreteOp::Update { offset, iovecs } => {
                let r = run.call(w, true, || unsafe {
                    (lib.update)(ctx, *offset, iovecs.as_ptr(), iovecs.len() as c_uint)
                });
                (r.map_or(DEAD, i64::from), None)
            }
            ConcreteOp::Unregister => {
                let r = run.call(w, true, || unsafe { (lib.unregister)(ctx) });
                (r.map_or(DEAD, i64::from), None)
            }
            ConcreteOp::Import {
                slot,
                ddir,
                buf_addr,
                len,
                hold,
            } => {
                let req = unsafe { (lib.req_new)(ctx, *slot) };
                let mut it = RfIter::default();
                let Some(r) = run.call(w, true, || unsafe {
                    (lib.import_reg_buf)(req, *buf_addr, *len, *ddir as c_int, &mut it)
                }) else {
                    return (DEAD, None);
                };
                mirror::mirror(w, run);
                let iter = (r == 0).then(|| self.imported(w, run, req, *ddir, &it));
                let ret = self.issued(w, run, req, *slot, r, iter, *hold);
                if r == 0 {
                    run.walk(w, &it);
                }
                ret
            }
            ConcreteOp::Readv {
                slot,
                ddir,
                iovecs,
                hold,
            } => {
                let req = unsafe { (lib.req_new)(ctx, *slot) };
                let mut it = RfIter::default();
                let cap = iovecs
                    .iter()
                    .map(|i| (i.iov_len >> w.geo.page_shift) + 2)
                    .sum::<u64>() as usize
                    * 2
                    + 64;
                let mut res = vec![RfBioVec::default(); cap];
                let res_ptr = res.as_mut_ptr();
                let r = run.call(w, true, || unsafe {
                    (lib.import_reg_vec)(
                        req,
                        *ddir as c_int,
                        iovecs.as_ptr(),
                        iovecs.len() as c_uint,
                        res_ptr,
                        cap as c_ulong,
                        &mut it,
                    )
                });
                let Some(r) = r else {
                    return (DEAD, None);
                };
                mirror::mirror(w, run);
                let iter = (r == 0).then(|| {
                    let n = (it.nr_segs as usize).min(cap);
                    IovIter::owned(*ddir, res[..n].iter().map(bio_vec).collect(), it.count)
                });
                self.issued(w, run, req, *slot, r, iter, *hold)
            }
            ConcreteOp::Complete => match run.inflight.pop_front() {
                Some(req) => {
                    let r = w.ctx.inflight.pop_front().expect("in-flight lists in step");
                    if run
                        .call(w, true, || unsafe { (lib.req_free)(req) })
                        .is_none()
                    {
                        return (DEAD, None);
                    }
                    (0, Some(r.import))
                }
                None => (0, None),
            },
        };
        if !run.dead {
            mirror::mirror(w, run);
        }
        ret
    }

    /// The iterator an import set up, as the model's: into the imu when
    /// its bvecs are the buffer's.
    fn imported(&self, w: &World, run: &CRun, req: usize, ddir: u32, it: &RfIter) -> IovIter {
        let node = unsafe { (run.lib.req_node)(req) };
        let imu = run
            .objects
            .ids
            .get(&node)
            .and_then(|n| w.nodes.get(n))
            .and_then(|n| n.buf);
        match (imu, it.bvec) {
            (Some(imu), b) if b != 0 => {
                let base = run.objects.ptrs[&imu] + run.lib.imu_bvec_offset as usize;
                let start = (b.wrapping_sub(base) / std::mem::size_of::<RfBioVec>()) as u64;
                let mut i = IovIter::bvec(ddir, imu, start, it.nr_segs, it.count);
                i.iov_offset = it.iov_offset;
                i
            }
            _ => IovIter::owned(ddir, vec![], it.count),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn issued(
        &self,
        w: &mut World,
        run: &mut CRun,
        req: usize,
        slot: u32,
        r: c_int,
        iter: Option<IovIter>,
        hold: bool,
    ) -> (i64, Option<Vec<PhysRange>>) {
        let lib = run.lib;
        match iter {
            Some(iter) => {
                let import = iter.physical_ranges(w).0;
                if hold {
                    let node = unsafe { (lib.req_node)(req) };
                    let buf_node = run.objects.ids.get(&node).copied();
                    run.inflight.push_back(req);
                    w.ctx.inflight.push_back(InflightReq {
                        req: IoKiocb {
                            buf_index: slot,
                            buf_node,
                        },
                        import: import.clone(),
                    });
                } else if run
                    .call(w, true, || unsafe { (lib.req_free)(req) })
                    .is_none()
                {
                    return (DEAD, None);
                }
                (0, Some(import))
            }
            None => match run.call(w, true, || unsafe { (lib.req_free)(req) }) {
                Some(()) => (r as i64, None),
                None => (DEAD, None),
            },
        }
    }

    /// Ring exit through the C: in-flight requests go, then the buffers,
    /// the caches, the xarray and the ring's regions.
    pub fn ring_exit(&self, w: &mut World) -> i64 {
        let h = self.run_of(w);
        let mut run = h.0.lock().unwrap();
        let run = &mut *run;
        let (lib, ctx) = (run.lib, run.ctx);
        if run.dead {
            return DEAD;
        }
        while let Some(req) = run.inflight.pop_front() {
            w.ctx.inflight.pop_front();
            if run
                .call(w, true, || unsafe { (lib.req_free)(req) })
                .is_none()
            {
                return DEAD;
            }
            mirror::mirror(w, run);
        }
        let (mut locked, mut pinned) = (0 as c_long, 0i64);
        let (lp, pp) = (&mut locked as *mut c_long, &mut pinned as *mut i64);
        let freed = run.call(w, true, || unsafe {
            (lib.ring_free)(ctx, RING_REGION_PAGES as c_ulong, lp, pp)
        });
        run.ctx = 0;
        if freed.is_none() {
            return DEAD;
        }
        mirror::after_exit(w, locked as u64, pinned as u64);
        // What the ledger does not hold (a patch's new allocation) is still
        // owed back by ring exit, as kmemleak would say.
        let mut left: Vec<_> = run.objects.unledgered.values().cloned().collect();
        left.sort();
        for (size, caller) in left {
            w.warn_on_once(
                true,
                &format!("kmemleak({caller}): {size} bytes never freed"),
            );
        }
        0
    }

    fn call_import_fixed(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        buf_addr: u64,
        len: u64,
    ) -> Result<IovIter, Errno> {
        let h = self.run_of(w);
        let mut run = h.0.lock().unwrap();
        let run = &mut *run;
        let p = run.objects.ptrs[&imu];
        let mut it = RfIter::default();
        let lib = run.lib;
        let Some(r) = run.call(w, false, || unsafe {
            (lib.import_fixed)(p, ddir as c_int, buf_addr, len, &mut it)
        }) else {
            return Err(Errno::EFAULT);
        };
        if r != 0 {
            return Err(errno(r));
        }
        if it.bvec == 0 {
            return Ok(IovIter::owned(ddir, vec![], it.count));
        }
        let base = p + lib.imu_bvec_offset as usize;
        let start = (it.bvec.wrapping_sub(base) / std::mem::size_of::<RfBioVec>()) as u64;
        let mut i = IovIter::bvec(ddir, imu, start, it.nr_segs, it.count);
        i.iov_offset = it.iov_offset;
        Ok(i)
    }

    fn call_vec_fill_bvec(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        iovec: &[Iovec],
        capacity: u64,
    ) -> Result<IovIter, Errno> {
        let h = self.run_of(w);
        let mut run = h.0.lock().unwrap();
        let run = &mut *run;
        let p = run.objects.ptrs[&imu];
        let lib = run.lib;
        // Room for the most a bvec walk can write (one entry per page, two
        // more per iovec), so that an overflow of the estimate is seen, not
        // suffered. calloc: the pages past what is written are never touched.
        let room = capacity as usize
            + 64
            + iovec
                .iter()
                .map(|i| (i.iov_len >> w.geo.page_shift) as usize + 2)
                .sum::<usize>();
        let buf = unsafe { libc::calloc(room, std::mem::size_of::<RfBioVec>()) } as *mut RfBioVec;
        assert!(!buf.is_null(), "no memory for {room} result bvecs");
        let mut it = RfIter::default();
        let r = run
            .call(w, false, || unsafe {
                (lib.vec_fill_bvec)(
                    p,
                    ddir as c_int,
                    iovec.as_ptr(),
                    iovec.len() as c_uint,
                    buf,
                    &mut it,
                )
            })
            .unwrap_or(-(libc::EFAULT));
        // Entries are written in order from 0: past the estimate, count on.
        let res = unsafe { std::slice::from_raw_parts(buf, room) };
        let written = (capacity as usize..room)
            .find(|&i| res[i].bv_page == 0)
            .unwrap_or(room) as u64;
        if written > capacity {
            w.events.push(Event::ResBvecOverflow { written, capacity });
        }
        let out = (r == 0).then(|| {
            let n = (it.nr_segs as usize).min(room);
            res[..n].iter().map(bio_vec).collect::<Vec<_>>()
        });
        unsafe { libc::free(buf as *mut c_void) };
        let Some(bvecs) = out else {
            return Err(errno(r));
        };
        Ok(IovIter::owned(ddir, bvecs, it.count))
    }
}

fn bio_vec(b: &RfBioVec) -> BioVec {
    BioVec {
        bv_page: page_to_pfn(b.bv_page),
        bv_len: b.bv_len as u64,
        bv_offset: b.bv_offset as u64,
    }
}

fn errno(r: c_int) -> Errno {
    Errno::from_neg(r).unwrap_or(Errno::EINVAL)
}

impl Variant for CVariant {
    fn name(&self) -> &'static str {
        self.name
    }
    fn summary(&self) -> &'static str {
        self.summary
    }
    fn known_bugs(&self) -> &'static [KnownBug] {
        if self.has_vectored_import() {
            self.twin.known_bugs()
        } else {
            // 6.12's design: 7.1's bypass, and an nr_segs fixed in 6.15.
            OLD_DESIGN_BUGS
        }
    }
    fn kernel_c(&self) -> Option<&CVariant> {
        Some(self)
    }
    fn io_import_fixed(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        buf_addr: u64,
        len: u64,
    ) -> Result<IovIter, Errno> {
        self.call_import_fixed(w, ddir, imu, buf_addr, len)
    }
    fn io_vec_fill_bvec(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        iovec: &[Iovec],
        capacity: u64,
    ) -> Result<IovIter, Errno> {
        self.call_vec_fill_bvec(w, ddir, imu, iovec, capacity)
    }
    fn imu_acct_pages(&self, w: &World, imu: AllocId) -> Option<u64> {
        self.has_acct_pages.then(|| w.imu(imu).acct_pages)
    }
    fn accounting_rule(&self) -> crate::variants::AccountingRule {
        self.twin.accounting_rule()
    }
    fn accounted_pages(&self, w: &World) -> Result<u64, String> {
        if self.has_acct_pages {
            Ok(crate::oracle::invariants::live_buffers(w)
                .iter()
                .map(|&(_, imu)| w.imu(imu).acct_pages)
                .sum())
        } else {
            self.twin.accounted_pages(w)
        }
    }
}
