//! fork() for a scenario's private hugetlb pages: a child that shares one
//! page and exits at once (`forked`), or one that keeps it mapped until the
//! layout is dropped (`child_maps`), so that the parent's first pin of the
//! page finds it mapped twice and hugetlb copies it.
//!
//! Each child shares exactly one page: before the fork every mapping of the
//! scenario area is `MADV_DONTFORK` but that page's, so no THP, mTHP or
//! other page of the layout becomes COW-shared with it (that would change
//! what a pin does to them). The rest of the process (heap, stacks) is
//! shared as fork() shares it; no pin reaches it.

use super::exec::Disagreement;
use super::layout::LiveLayout;
use super::sys;
use crate::mm::FolioId;

/// A child that still maps a page; killed and reaped on drop.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: a child this process forked and has not reaped.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(self.pid, &mut status, 0);
        }
    }
}

/// Marks `[at, at + len)` as inherited by a fork (`doit`) or not.
pub fn inherit(at: usize, len: usize, doit: bool) -> Result<(), String> {
    let advice = if doit {
        libc::MADV_DOFORK
    } else {
        libc::MADV_DONTFORK
    };
    sys::madvise(at, len, advice).map_err(|e| {
        format!(
            "madvise(MADV_{}FORK): {e}",
            if doit { "DO" } else { "DONT" }
        )
    })
}

/// Forks with `[at, at + len)` the only part of the scenario area the child
/// inherits (the caller made the rest `MADV_DONTFORK`). With `stay`, the
/// child keeps the mapping until the returned [`Child`] is dropped;
/// otherwise it exits at once and is reaped before this returns.
pub fn share(at: usize, len: usize, stay: bool) -> Result<Option<Child>, String> {
    inherit(at, len, true)?;
    // SAFETY: the child only calls async-signal-safe functions (prctl,
    // getppid, pause, _exit) before it exits, so a fork from a threaded
    // process is sound.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above; the child never returns into Rust code.
        unsafe {
            if !stay {
                libc::_exit(0);
            }
            // A parent that dies without dropping the layout takes the
            // child, and the huge page it holds, with it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() == 1 {
                libc::_exit(0);
            }
            loop {
                libc::pause();
            }
        }
    }
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    let child = Child { pid };
    inherit(at, len, false)?;
    if stay {
        return Ok(Some(child));
    }
    // Reaped now: its exit unmaps the page, which is then the parent's
    // alone (mapped once, not PageAnonExclusive).
    drop(child);
    Ok(None)
}

/// After operation `op`, when the layout forked: the page frame behind each
/// mapped segment has changed exactly where the model says a pin copied the
/// folio (`copied`, its `(original, copy)` pairs so far).
pub fn check_copies(
    op: usize,
    lay: &LiveLayout,
    copied: &[(FolioId, FolioId)],
    out: &mut Vec<Disagreement>,
) -> Result<(), String> {
    if lay.frames.is_empty() {
        return Ok(());
    }
    let now = lay.frames_now()?;
    for (&(folio, at, before), now) in lay.frames.iter().zip(now) {
        let model = copied.iter().any(|&(o, _)| o == FolioId(folio));
        let kernel = now != Some(before);
        if model != kernel {
            let said = |c: bool| if c { "copied" } else { "not copied" };
            out.push(Disagreement {
                op,
                what: format!(
                    "the page of folio {folio} at base + {:#x} in a layout that forked",
                    at - lay.base
                ),
                model: said(model).into(),
                kernel: format!("{} (frame {before:#x} -> {now:x?})", said(kernel)),
            });
        }
    }
    Ok(())
}
