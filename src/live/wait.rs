//! Waiting for a completion on the live ring, robustly: the check's
//! verdicts must never depend on when the kernel wakes the waiter.

use io_uring::{types, IoUring};

/// How long a request may take to complete before the run is trouble. Not
/// part of any verdict: it only keeps a request the kernel never completes
/// from holding the check (and CI) forever.
const COMPLETION_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Submits what is queued and returns once at least one completion is in
/// the queue. `io_uring_enter(GETEVENTS, min_complete = 1)` may return
/// before any: a pending signal ends the wait (-EINTR, or the count
/// submitted if it submitted any), and so does the freezer's wake-up. As
/// liburing's `__io_uring_get_cqe()` does, it is entered again until the
/// queue holds one; past [`COMPLETION_LIMIT`] that is trouble naming `what`.
pub fn wait_some(ring: &mut IoUring, what: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + COMPLETION_LIMIT;
    loop {
        if !ring.completion().is_empty() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no completion for {what} within {} s; this process's threads: {}",
                COMPLETION_LIMIT.as_secs(),
                threads()
            ));
        }
        let ts = types::Timespec::from(left);
        let args = types::SubmitArgs::new().timespec(&ts);
        match ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ETIME)) => {}
            Err(e) => return Err(format!("io_uring_enter, waiting for {what}: {e}")),
        }
    }
}

/// Each thread of this process (the io-wq workers are `iou-wrk-*`) with
/// where it sleeps, so that a request the kernel never completes is
/// reported with what was holding it.
fn threads() -> String {
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return "(no /proc/self/task)".into();
    };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        let p = t.path();
        let stack: Vec<String> = read(p.join("stack"))
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .take(8)
            .collect();
        out.push(format!(
            "{} {} in {} [{}]",
            t.file_name().to_string_lossy(),
            read(p.join("comm")).trim(),
            read(p.join("wchan")).trim(),
            stack.join(" < ")
        ));
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::opcode;
    use std::sync::atomic::{AtomicBool, Ordering};

    static HANDLED: AtomicBool = AtomicBool::new(false);

    extern "C" fn note(_: libc::c_int) {
        HANDLED.store(true, Ordering::SeqCst);
    }

    /// The enter that submits a read and then waits is interrupted by a
    /// signal while it waits (another thread sends it once /proc says the
    /// waiter is inside io_uring_enter), so it returns the count submitted
    /// with no completion: the return that made the check call a healthy
    /// run trouble. Once the handler has run, the read is given its bytes;
    /// the wait goes on and sees its completion.
    #[test]
    fn a_wait_interrupted_after_submitting_goes_on_to_the_completion() {
        let mut ring = match IoUring::new(8) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("skipped: io_uring_setup: {e}");
                return;
            }
        };
        let mut fds = [0i32; 2];
        // SAFETY: a two-int array for pipe(2).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: installing a handler that only does async-signal-safe work.
        unsafe { libc::signal(libc::SIGUSR1, note as *const () as libc::sighandler_t) };
        let mut buf = [0u8; 3];
        let read = opcode::Read::new(types::Fd(fds[0]), buf.as_mut_ptr(), 3)
            .build()
            .user_data(9);
        // SAFETY: `buf` outlives the wait below.
        unsafe { ring.submission().push(&read).unwrap() };
        // SAFETY: gettid and pthread_self take no argument.
        let (tid, me) = unsafe { (libc::gettid(), libc::pthread_self()) };
        let pipe_w = fds[1];
        let signaller = std::thread::spawn(move || {
            let path = format!("/proc/self/task/{tid}/syscall");
            // 426 is io_uring_enter on every architecture's generic table.
            while !std::fs::read_to_string(&path)
                .unwrap_or_default()
                .starts_with("426 ")
            {
                std::thread::yield_now();
            }
            // SAFETY: the main thread is alive: it is waiting in the kernel.
            unsafe { libc::pthread_kill(me, libc::SIGUSR1) };
            while !HANDLED.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            let b = [7u8; 3];
            // SAFETY: writing a local buffer to the test's own pipe.
            unsafe { libc::write(pipe_w, b.as_ptr().cast(), 3) };
        });
        wait_some(&mut ring, "the test's read").unwrap();
        signaller.join().unwrap();
        assert!(
            HANDLED.load(Ordering::SeqCst),
            "the signal came during the wait"
        );
        let c = ring.completion().next().unwrap();
        assert_eq!((c.user_data(), c.result()), (9, 3));
        assert_eq!(buf, [7; 3]);
        // SAFETY: closing the test's own pipe.
        unsafe {
            libc::signal(libc::SIGUSR1, libc::SIG_DFL);
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
