//! `regbuf-fuzz live-bench`: the cost of registering and unregistering one
//! 2 MiB hugetlb buffer on the running kernel, for comparison with the
//! RFC's own figures. A measurement, printed with the machine it ran on;
//! never a test.

use super::sys;
use std::time::Instant;

/// Runs `rounds` register + unregister pairs; returns the exit status
/// (0, or [`super::EXIT_SKIPPED`] with the reason printed).
pub fn run(rounds: u64) -> i32 {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("live-bench: SKIPPED: not root: cannot reserve a huge page");
        return super::EXIT_SKIPPED;
    }
    let Ok((reservation, got, _)) = super::Reservation::new(1, 0) else {
        println!("live-bench: SKIPPED: cannot write nr_hugepages");
        return super::EXIT_SKIPPED;
    };
    if got == 0 {
        println!("live-bench: SKIPPED: no 2 MiB huge page could be reserved");
        return super::EXIT_SKIPPED;
    }
    let result = measure(rounds);
    drop(reservation);
    match result {
        Ok((reg, unreg)) => {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let cpu = std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|c| {
                    c.lines().find_map(|l| {
                        l.strip_prefix("model name")
                            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
                    })
                })
                .unwrap_or_default();
            println!(
                "live-bench on Linux {} ({cpu}), {rounds} rounds of one 2 MiB hugetlb buffer:",
                release.trim()
            );
            println!(
                "  IORING_REGISTER_BUFFERS:   median {:>7} ns, mean {:>7} ns",
                median(&reg),
                mean(&reg)
            );
            println!(
                "  IORING_UNREGISTER_BUFFERS: median {:>7} ns, mean {:>7} ns",
                median(&unreg),
                mean(&unreg)
            );
            0
        }
        Err(e) => {
            println!("live-bench: trouble: {e}");
            2
        }
    }
}

fn measure(rounds: u64) -> Result<(Vec<u64>, Vec<u64>), String> {
    let len = 2usize << 20;
    let fd = sys::memfd("regbuf-bench", libc::MFD_HUGETLB | (21 << 26), len as u64)
        .map_err(|e| format!("memfd: {e}"))?;
    let addr = sys::mmap(
        0,
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
        fd,
        0,
    )
    .map_err(|e| format!("mmap: {e}"))?;
    // SAFETY: the page was just mapped read-write; touching it faults it in.
    unsafe { std::ptr::write_bytes(addr as *mut u8, 1, len) };
    let ring = io_uring::IoUring::new(8).map_err(|e| format!("io_uring_setup: {e}"))?;
    let rfd = std::os::fd::AsRawFd::as_raw_fd(&ring);
    let iov = libc::iovec {
        iov_base: addr as *mut _,
        iov_len: len,
    };
    let (mut reg, mut unreg) = (
        Vec::with_capacity(rounds as usize),
        Vec::with_capacity(rounds as usize),
    );
    for _ in 0..rounds {
        let t = Instant::now();
        // SAFETY: `iov` and the huge page it names outlive the ring.
        let r = unsafe {
            sys::io_uring_register(
                rfd,
                sys::IORING_REGISTER_BUFFERS,
                (&iov as *const libc::iovec).cast(),
                1,
            )
        };
        reg.push(t.elapsed().as_nanos() as u64);
        if r != 0 {
            return Err(format!("IORING_REGISTER_BUFFERS returned {r}"));
        }
        let t = Instant::now();
        // SAFETY: UNREGISTER takes no argument.
        unsafe { sys::io_uring_register(rfd, sys::IORING_UNREGISTER_BUFFERS, std::ptr::null(), 0) };
        unreg.push(t.elapsed().as_nanos() as u64);
    }
    drop(ring);
    sys::munmap(addr, len);
    sys::close(fd);
    Ok((reg, unreg))
}

fn median(v: &[u64]) -> u64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied().unwrap_or(0)
}

fn mean(v: &[u64]) -> u64 {
    v.iter().sum::<u64>() / v.len().max(1) as u64
}
