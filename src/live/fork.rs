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
use super::layout::{Backing, FolioPlan, Fork, LayoutPlan, LiveLayout, Skip};
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

impl LiveLayout {
    /// When the layout forked: the page frame behind each mapped segment
    /// now, before any pin, for [`check_copies`].
    pub(super) fn record_frames(&mut self, plan: &LayoutPlan) -> Result<(), Skip> {
        if !self.forked {
            return Ok(());
        }
        self.frames = plan
            .segments
            .iter()
            .zip(&self.segments)
            .filter_map(|(p, &(at, _))| Some((p.folio?, at, 0)))
            .collect();
        let now = self.frames_now().map_err(Skip::Unsupported)?;
        for (entry, pfn) in self.frames.iter_mut().zip(now) {
            entry.2 = pfn.ok_or_else(|| {
                Skip::NotBacked(format!(
                    "folio {}'s page is not present after fork()",
                    entry.0
                ))
            })?;
        }
        Ok(())
    }

    /// The page frame at each address in [`LiveLayout::frames`] in this
    /// process now (`None`: not present).
    pub fn frames_now(&self) -> Result<Vec<Option<u64>>, String> {
        let pagemap = std::fs::File::open("/proc/self/pagemap")
            .map_err(|e| format!("/proc/self/pagemap: {e}"))?;
        self.frames
            .iter()
            .map(|&(_, at, _)| sys::pfn_of(&pagemap, at).map_err(|e| format!("pagemap: {e}")))
            .collect()
    }

    /// The fork()s the scenario asks for, one per forked private hugetlb
    /// page, each child sharing that page and no other of the layout.
    pub(super) fn fork_children(&mut self, plan: &LayoutPlan) -> Result<(), Skip> {
        let forked = |f: &FolioPlan| {
            matches!(
                f.backing,
                Backing::PrivateHuge {
                    fork: Fork::Exited | Fork::ChildMaps,
                    ..
                }
            )
        };
        if !plan.folios.iter().any(forked) {
            return Ok(());
        }
        let (area, len) = self.reserve;
        inherit(area, len, false).map_err(Skip::Unsupported)?;
        for (i, seg) in plan.segments.iter().enumerate() {
            let Some(fi) = seg.folio else { continue };
            let Backing::PrivateHuge { fork: how, .. } = plan.folios[fi as usize].backing else {
                continue;
            };
            if how == Fork::No {
                continue;
            }
            let (at, l) = self.segments[i];
            self.forked = true;
            if let Some(c) = share(at, l, how == Fork::ChildMaps).map_err(Skip::Unsupported)? {
                self.children.push(c);
            }
        }
        Ok(())
    }
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
