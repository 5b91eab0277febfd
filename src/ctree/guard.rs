//! Memory safety of the compiled C, as KASAN would report it. Every object
//! the C allocates is placed so that it ends where a `PROT_NONE` page
//! begins, and a freed object's pages become `PROT_NONE` until the run is
//! over: a read past an object, or of one already freed, faults on the
//! spot. The shim's `rf_try` turns a fault in the C's own code into a
//! return; this module says what was hit (whose object, how far past it)
//! and where (function, file and line of the tree).

use super::TreeError;
use std::collections::BTreeMap;
use std::ffi::{c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// KASAN's bug types, and the oops kinds of a fault: the first word of an
/// `oops` aspect that is a memory error of the kernel's C.
pub const BUG_TYPES: &[&str] = &[
    "slab-out-of-bounds",
    "use-after-free",
    "null-ptr-deref",
    "wild-memory-access",
    "struct-page-access",
];

/// `struct rf_fault`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RfFault {
    /// The address the access faulted on.
    pub addr: usize,
    /// The faulting instruction, as an offset into the loaded object.
    pub ip: usize,
    /// Whether it was a write (x86-64 reports it; elsewhere 0).
    pub write: c_int,
    /// SIGSEGV or SIGBUS; 0 for a bad access KASAN's checks caught.
    pub sig: c_int,
    /// The shadow byte at `addr` when the check failed (else -1): what the
    /// memory was then, which a later free may have changed.
    pub shadow: c_int,
}

/// `rf_try`: runs `fn(arg)`, and returns 1 with the fault when the C
/// faulted in it.
pub type TryFn =
    unsafe extern "C" fn(unsafe extern "C" fn(*mut c_void), *mut c_void, *mut RfFault) -> c_int;

/// Runs `f` (a call into the C) so that a memory fault of the C's own code
/// comes back as `Err` instead of killing the process.
pub fn call<F: FnMut()>(try_fn: TryFn, mut f: F) -> Result<(), RfFault> {
    // A fault jumps from the C straight back into rf_try, over this frame
    // and the closure's: neither may hold anything with a destructor.
    unsafe extern "C" fn trampoline<F: FnMut()>(arg: *mut c_void) {
        (*(arg as *mut F))()
    }
    let mut fault = RfFault::default();
    let faulted = unsafe { try_fn(trampoline::<F>, &mut f as *mut F as *mut c_void, &mut fault) };
    if faulted != 0 {
        Err(fault)
    } else {
        Ok(())
    }
}

/// Where KASAN's shadow lies: the shadow byte of address `a` is at
/// `(a >> 3) + SHADOW_OFFSET` (user-space ASan's x86-64 layout).
pub const SHADOW_OFFSET: usize = 0x7fff_8000;
/// The shadow of the whole 47-bit user address space.
const SHADOW_LEN: usize = 1 << 44;

/// Shadow byte values, KASAN's (`mm/kasan/kasan.h`).
const KASAN_SLAB_REDZONE: u8 = 0xfc;
const KASAN_SLAB_FREE: u8 = 0xfb;

/// Reserves the shadow once for the process: zero (every byte accessible)
/// until the allocator poisons it; pages never written cost nothing.
fn shadow() -> Result<(), String> {
    static S: OnceLock<Result<(), String>> = OnceLock::new();
    S.get_or_init(|| {
        let p = unsafe {
            libc::mmap(
                SHADOW_OFFSET as *mut c_void,
                SHADOW_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE
                    | libc::MAP_ANONYMOUS
                    | libc::MAP_NORESERVE
                    | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p as usize != SHADOW_OFFSET {
            return Err(format!(
                "cannot reserve KASAN's shadow ({} TiB of address space at {SHADOW_OFFSET:#x}): {}",
                SHADOW_LEN >> 40,
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    })
    .clone()
}

fn poison(addr: usize, len: usize, value: u8) {
    debug_assert!(addr % 8 == 0 && len % 8 == 0);
    let s = (addr >> 3) + SHADOW_OFFSET;
    unsafe { std::ptr::write_bytes(s as *mut u8, value, len >> 3) };
}

/// One object and its redzones.
#[derive(Debug)]
struct Region {
    len: usize,
    obj: usize,
    size: usize,
    caller: String,
    live: bool,
}

/// The C's objects, each between two poisoned redzones; a freed one stays
/// poisoned, in quarantine, until the run is over, so its address is not
/// handed out again while a stale pointer may still reach it.
#[derive(Debug, Default)]
pub struct Heap {
    /// By the start of the host allocation.
    regions: BTreeMap<usize, Region>,
}

/// The left redzone; the right one is as long as the object, within these
/// bounds, so that an index a few entries past the end still lands in it.
const REDZONE_LEFT: usize = 32;
const REDZONE_MIN: usize = 64;
const REDZONE_MAX: usize = 1 << 16;

impl Heap {
    /// A zeroed object of `size` bytes for `caller`. `size` 0 gives a
    /// pointer every access through is reported, as the kernel's
    /// ZERO_SIZE_PTR faults.
    pub fn alloc(&mut self, size: usize, caller: &str) -> *mut c_void {
        let body = size.div_ceil(8) * 8;
        let right = body.clamp(REDZONE_MIN, REDZONE_MAX);
        let len = REDZONE_LEFT + body + right;
        let base = unsafe { libc::calloc(1, len) } as usize;
        assert!(base != 0, "no memory for a {size}-byte object of {caller}");
        let obj = base + REDZONE_LEFT;
        poison(base, REDZONE_LEFT, KASAN_SLAB_REDZONE);
        poison(obj, body, 0);
        if size % 8 != 0 {
            // A partial granule: its first size % 8 bytes are the object's.
            let granule = ((obj + body - 8) >> 3) + SHADOW_OFFSET;
            unsafe { *(granule as *mut u8) = (size % 8) as u8 };
        }
        poison(obj + body, right, KASAN_SLAB_REDZONE);
        self.regions.insert(
            base,
            Region {
                len,
                obj,
                size,
                caller: caller.to_string(),
                live: true,
            },
        );
        obj as *mut c_void
    }

    fn region_of(&self, addr: usize) -> Option<(usize, &Region)> {
        let (&start, r) = self.regions.range(..=addr).next_back()?;
        (addr < start + r.len).then_some((start, r))
    }

    /// Frees the live object at `p` into quarantine. False when `p` is not
    /// one.
    pub fn free(&mut self, p: usize) -> bool {
        let Some((start, r)) = self.region_of(p) else {
            return false;
        };
        if !r.live || r.obj != p {
            return false;
        }
        poison(r.obj, r.size.div_ceil(8) * 8, KASAN_SLAB_FREE);
        self.regions.get_mut(&start).expect("found above").live = false;
        true
    }

    /// Gives every object back (the run is over), its shadow cleared.
    pub fn release_all(&mut self) {
        for (&start, r) in &self.regions {
            poison(start, r.len, 0);
            unsafe { libc::free(start as *mut c_void) };
        }
        self.regions.clear();
    }

    /// KASAN's words for an access at `addr`: the bug type and where the
    /// address lies.
    pub fn describe(&self, addr: usize, shadow: c_int) -> (&'static str, String) {
        // Freed then, or live then: the shadow at the access says which.
        let live_then = |r: &Region| match shadow {
            -1 => r.live,
            s => s as u8 != KASAN_SLAB_FREE,
        };
        match self.region_of(addr) {
            Some((_, r)) if live_then(r) && addr >= r.obj + r.size => (
                "slab-out-of-bounds",
                format!(
                    "{} bytes to the right of the {}-byte region allocated by {}",
                    addr - (r.obj + r.size),
                    r.size,
                    r.caller
                ),
            ),
            Some((_, r)) if live_then(r) => (
                "slab-out-of-bounds",
                format!(
                    "{} bytes to the left of the {}-byte region allocated by {}",
                    r.obj.saturating_sub(addr),
                    r.size,
                    r.caller
                ),
            ),
            Some((_, r)) => (
                "use-after-free",
                format!(
                    "{} bytes inside the {}-byte region allocated by {} and freed",
                    addr as i64 - r.obj as i64,
                    r.size,
                    r.caller
                ),
            ),
            None if addr < 1 << 16 => ("null-ptr-deref", format!("address {addr:#x}")),
            None if in_mem_map(addr) => (
                "struct-page-access",
                format!(
                    "the struct page of pfn {:#x}, whose fields the shim does not lay out \
                     (it answers for pages only through its helpers)",
                    super::page_to_pfn(addr)
                ),
            ),
            None => ("wild-memory-access", format!("address {addr:#x}")),
        }
    }
}

fn in_mem_map(addr: usize) -> bool {
    let base = super::mem_map();
    addr >= base && addr < base + (super::MEM_MAP_PAGES * super::STRUCT_PAGE) as usize
}

/// Source lines for faults in one loaded object, read from its debug
/// information when first needed.
pub struct Symbols {
    so: PathBuf,
    loader: OnceLock<Option<addr2line::Loader>>,
}

// SAFETY: the loader is only read after it is built, and its reads do not
// mutate shared state.
unsafe impl Send for Symbols {}
unsafe impl Sync for Symbols {}

impl Symbols {
    /// The symbols of `so`.
    pub fn new(so: &Path) -> Symbols {
        Symbols {
            so: so.to_path_buf(),
            loader: OnceLock::new(),
        }
    }

    /// `function (file:line)` for an instruction, innermost first, with
    /// the functions it was inlined into.
    pub fn site(&self, ip: usize) -> String {
        let loader = self
            .loader
            .get_or_init(|| addr2line::Loader::new(&self.so).ok());
        let Some(l) = loader else {
            return format!("{}+{ip:#x}", self.so.display());
        };
        let mut frames = Vec::new();
        if let Ok(mut it) = l.find_frames(ip as u64) {
            while let Ok(Some(f)) = it.next() {
                let name = f
                    .function
                    .as_ref()
                    .and_then(|n| n.raw_name().ok().map(|s| s.into_owned()))
                    .unwrap_or_else(|| "?".into());
                // The tree's own path (the #line names), not the build's.
                let at = f
                    .location
                    .and_then(|loc| {
                        let file = loc.file?;
                        let file = match file.find("io_uring/") {
                            Some(i) => &file[i..],
                            None => file.rsplit('/').next().unwrap_or(file),
                        };
                        Some(format!("{file}:{}", loc.line?))
                    })
                    .unwrap_or_default();
                frames.push((name, at));
            }
        }
        if frames.is_empty() {
            return l
                .find_symbol(ip as u64)
                .map_or_else(|| format!("+{ip:#x}"), str::to_string);
        }
        frames
            .iter()
            .map(|(n, at)| {
                if at.is_empty() {
                    n.clone()
                } else {
                    format!("{n} ({at})")
                }
            })
            .collect::<Vec<_>>()
            .join(", inlined into ")
    }

    /// The innermost function at `ip`.
    pub fn function(&self, ip: usize) -> String {
        let s = self.site(ip);
        s.split([' ', ',']).next().unwrap_or(&s).to_string()
    }
}

/// Installs the C's fault handler of one loaded object. Handlers chain, so
/// objects are set up one at a time.
pub fn install(install_fn: unsafe extern "C" fn() -> c_int, so: &Path) -> Result<(), TreeError> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    shadow().map_err(|reason| TreeError::Tool {
        tool: "KASAN shadow".into(),
        reason,
    })?;
    if unsafe { install_fn() } != 0 {
        return Err(TreeError::Tool {
            tool: "fault handler".into(),
            reason: format!(
                "{}: cannot install the handler for the C's faults",
                so.display()
            ),
        });
    }
    Ok(())
}

/// `rf_kasan_take`: the first bad access KASAN's checks saw since the last
/// take, and how many there were.
pub type KasanTakeFn = unsafe extern "C" fn(*mut RfFault) -> std::ffi::c_ulong;

/// What one fault or bad access of the C was, as an oops site for the
/// `oops` invariant: `<bug type> in <function>: <access, where>; at <site>`
/// (KASAN's `BUG: KASAN: <bug type> in <function>`).
pub fn report(heap: &Heap, syms: &Symbols, f: &RfFault) -> String {
    let (kind, where_) = heap.describe(f.addr, f.shadow);
    let access = if f.sig == libc::SIGBUS {
        "access (SIGBUS)"
    } else if f.write != 0 {
        "write"
    } else {
        "read"
    };
    // No host address in the text: the same scenario gives the same words.
    format!(
        "{kind} in {}: {access}, {where_}; at {}",
        syms.function(f.ip),
        syms.site(f.ip)
    )
}
