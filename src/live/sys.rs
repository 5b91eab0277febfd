//! The system calls and /proc files the live check uses, each wrapped so a
//! failure says what it was doing.

use std::io;

/// `-errno` of the last failed call.
pub fn neg_errno() -> i64 {
    -(io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
}

/// `io_uring_register(2)`: the raw return value, or `-errno`.
///
/// # Safety
///
/// `arg` must point to what `opcode` expects (`nr` iovecs, or one struct of
/// `nr` bytes), alive for the call; registered buffers must stay mapped
/// until they are unregistered or the ring is closed.
pub unsafe fn io_uring_register(fd: i32, opcode: u32, arg: *const libc::c_void, nr: u32) -> i64 {
    // SAFETY: the caller's contract above.
    let r = unsafe { libc::syscall(libc::SYS_io_uring_register, fd, opcode, arg, nr) };
    if r < 0 {
        neg_errno()
    } else {
        r
    }
}

/// `IORING_REGISTER_BUFFERS`.
pub const IORING_REGISTER_BUFFERS: u32 = 0;
/// `IORING_UNREGISTER_BUFFERS`.
pub const IORING_UNREGISTER_BUFFERS: u32 = 1;
/// `IORING_REGISTER_BUFFERS2`.
pub const IORING_REGISTER_BUFFERS2: u32 = 15;
/// `IORING_REGISTER_BUFFERS_UPDATE`.
pub const IORING_REGISTER_BUFFERS_UPDATE: u32 = 16;
/// `IORING_REGISTER_CLONE_BUFFERS`.
pub const IORING_REGISTER_CLONE_BUFFERS: u32 = 30;
/// `IORING_REGISTER_DST_REPLACE`.
pub const IORING_REGISTER_DST_REPLACE: u32 = 2;

/// `struct io_uring_clone_buffers`.
#[repr(C)]
#[derive(Default)]
pub struct CloneBuffers {
    /// `src_fd`.
    pub src_fd: u32,
    /// `flags`.
    pub flags: u32,
    /// `src_off`.
    pub src_off: u32,
    /// `dst_off`.
    pub dst_off: u32,
    /// `nr`.
    pub nr: u32,
    /// `pad`.
    pub pad: [u32; 3],
}

/// `IORING_RSRC_REGISTER_SPARSE`.
pub const IORING_RSRC_REGISTER_SPARSE: u32 = 1;

/// `struct io_uring_rsrc_register`.
#[repr(C)]
#[derive(Default)]
pub struct RsrcRegister {
    /// `nr`.
    pub nr: u32,
    /// `flags`.
    pub flags: u32,
    /// `resv2`.
    pub resv2: u64,
    /// `data`.
    pub data: u64,
    /// `tags`.
    pub tags: u64,
}

/// `struct io_uring_rsrc_update2`.
#[repr(C)]
#[derive(Default)]
pub struct RsrcUpdate2 {
    /// `offset`.
    pub offset: u32,
    /// `resv`.
    pub resv: u32,
    /// `data`.
    pub data: u64,
    /// `tags`.
    pub tags: u64,
    /// `nr`.
    pub nr: u32,
    /// `resv2`.
    pub resv2: u32,
}

/// `mmap(2)`; `Err` with what failed.
pub fn mmap(
    addr: usize,
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    off: i64,
) -> io::Result<usize> {
    // SAFETY: MAP_FIXED is only used inside the area this module reserved.
    let p = unsafe { libc::mmap(addr as *mut _, len, prot, flags, fd, off) };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as usize)
}

/// `munmap(2)`.
pub fn munmap(addr: usize, len: usize) {
    // SAFETY: only areas this module mapped are unmapped.
    unsafe { libc::munmap(addr as *mut _, len) };
}

/// `mremap(2)` with MREMAP_MAYMOVE | MREMAP_FIXED.
pub fn mremap_fixed(from: usize, len: usize, to: usize) -> io::Result<()> {
    // SAFETY: both ranges lie in areas this module owns.
    let p = unsafe {
        libc::mremap(
            from as *mut _,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to as *mut libc::c_void,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `madvise(2)`.
pub fn madvise(addr: usize, len: usize, advice: i32) -> io::Result<()> {
    // SAFETY: advice on an area this module mapped.
    if unsafe { libc::madvise(addr as *mut _, len, advice) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `mprotect(2)`.
pub fn mprotect(addr: usize, len: usize, prot: i32) -> io::Result<()> {
    // SAFETY: an area this module mapped.
    if unsafe { libc::mprotect(addr as *mut _, len, prot) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `memfd_create(2)` sized with `ftruncate`.
pub fn memfd(name: &str, flags: u32, size: u64) -> io::Result<i32> {
    let c = std::ffi::CString::new(name).expect("no NUL in the name");
    // SAFETY: a valid C string.
    let fd = unsafe { libc::memfd_create(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: our own fd.
    if unsafe { libc::ftruncate(fd, size as i64) } != 0 {
        let e = io::Error::last_os_error();
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// `fallocate(fd, 0, 0, size)`: allocates the whole file now.
pub fn fallocate(fd: i32, size: u64) -> io::Result<()> {
    // SAFETY: our own fd; no pointer.
    if unsafe { libc::fallocate(fd, 0, 0, size as i64) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `close(2)`.
pub fn close(fd: i32) {
    // SAFETY: an fd this module opened.
    unsafe { libc::close(fd) };
}

/// A field of /proc/self/status in kB (`VmPin`).
pub fn status_kb(field: &str) -> io::Result<u64> {
    proc_field("/proc/self/status", field)
}

/// A field of /proc/meminfo (`HugePages_Free`).
pub fn meminfo(field: &str) -> io::Result<u64> {
    proc_field("/proc/meminfo", field)
}

fn proc_field(path: &str, field: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')
                .map(|v| v.split_whitespace().next().unwrap_or("").parse().ok())
        })
        .flatten()
        .ok_or_else(|| io::Error::other(format!("no `{field}` in {path}")))
}

/// The pfn behind a virtual address, from /proc/self/pagemap (root only).
pub fn pfn_of(pagemap: &std::fs::File, vaddr: usize) -> io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 8];
    pagemap.read_exact_at(&mut b, (vaddr as u64 / 4096) * 8)?;
    let e = u64::from_le_bytes(b);
    Ok((e >> 63 == 1)
        .then_some(e & ((1 << 55) - 1))
        .filter(|&p| p != 0))
}

/// Flags of a pfn from /proc/kpageflags.
pub fn kpageflags(f: &std::fs::File, pfn: u64) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, pfn * 8)?;
    Ok(u64::from_le_bytes(b))
}

/// kpageflags bits.
pub mod kpf {
    /// `KPF_ANON`.
    pub const ANON: u64 = 1 << 12;
    /// `KPF_COMPOUND_HEAD`.
    pub const COMPOUND_HEAD: u64 = 1 << 15;
    /// `KPF_COMPOUND_TAIL`.
    pub const COMPOUND_TAIL: u64 = 1 << 16;
    /// `KPF_HUGE` (hugetlb).
    pub const HUGE: u64 = 1 << 17;
    /// `KPF_THP`.
    pub const THP: u64 = 1 << 22;
}

/// Drops or raises CAP_IPC_LOCK in the effective set (it stays permitted),
/// so a ring created meanwhile is charged to RLIMIT_MEMLOCK.
pub fn set_cap_ipc_lock(on: bool) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const CAP_IPC_LOCK: u32 = 14;
    let mut h = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data words.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        if on {
            d[0].effective |= 1 << CAP_IPC_LOCK;
        } else {
            d[0].effective &= !(1 << CAP_IPC_LOCK);
        }
        if libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `setrlimit(RLIMIT_MEMLOCK)`, returning the old limit.
pub fn set_memlock(bytes: u64) -> io::Result<libc::rlimit> {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        let new = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: old.rlim_max.max(bytes),
        };
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &new) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(old)
}

/// Restores a limit from [`set_memlock`].
pub fn restore_memlock(old: libc::rlimit) {
    // SAFETY: plain setrlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &old) };
}
