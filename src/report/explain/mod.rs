//! `regbuf-fuzz explain`: one scenario drawn for a kernel reviewer.
//!
//! The oracle's snapshots are normalised (bytes, not bvecs) so that two
//! representations of the same memory compare equal; a reviewer needs the
//! representation itself. So this module runs the model again on each side
//! and keeps every installed buffer's `bvec[]`, `nr_bvecs` and `folio_shift`.

use super::{kind_meaning, replay_command};
use crate::mm::{AllocSite, FolioId};
use crate::model::iov_iter::PhysRange;
use crate::model::{Errno, World};
use crate::oracle::invariants::installed;
use crate::oracle::truth::{user_range, UNMAPPED};
use crate::oracle::{check, Verdict};
use crate::scenario::{build, Built, ConcreteOp, FolioKindSpec, IovSpec, Op, Pos, Scenario};
use crate::variants::Variant;
use std::fmt::Write;
use std::path::Path;

mod findings;
mod layout;
mod text;
mod trace;

use findings::{bufdesc, findings};
use layout::{describe_op, layout};
pub(crate) use text::{folio_kind, held, hsize, pool_origin, ranges, ret_text, wrap};
pub(crate) use trace::{acct_text, sides, Buf, Sides, Step};

/// Most bvecs listed per buffer; longer arrays show their first and last ones.
const MAX_BVECS_SHOWN: usize = 8;

/// A reviewer's report on `s` for `v` against `against`, ending with the
/// command that reproduces it (with `<FILE>` for the path).
pub fn explain(s: &Scenario, v: &dyn Variant, against: &dyn Variant) -> String {
    explain_with(s, v, against, None)
}

/// [`explain`] for a scenario read from `path`, which the replay command names.
pub fn explain_with(
    s: &Scenario,
    v: &dyn Variant,
    against: &dyn Variant,
    path: Option<&Path>,
) -> String {
    let mut o = String::new();
    let same = v.name() == against.name();
    let title = if same {
        format!("{} alone (invariants only)", v.name())
    } else {
        format!("{} against {}", v.name(), against.name())
    };
    let _ = writeln!(o, "regbuf-fuzz explain: {title}");
    if let Some(p) = path {
        let _ = writeln!(o, "file: {}", p.display());
    }
    if let Some(n) = &s.note {
        for l in wrap(n, 96) {
            let _ = writeln!(o, "note: {l}");
        }
    }
    let Sides {
        built: b,
        verdict,
        names,
        traces,
    } = match sides(s, v, against) {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(o, "\nThe scenario does not build: {e}");
            let _ = writeln!(o, "\n{}", replay_command(path, v.name(), against.name()));
            return o;
        }
    };
    let w = &b.world;
    let geo = w.geo;

    let _ = writeln!(
        o,
        "\ngeometry {}: {}",
        geo.name(),
        crate::report::geometry_sizes(&geo)
    );
    match s.memlock {
        Some(m) => {
            let bytes = m.bytes_at(&geo);
            let _ = writeln!(
                o,
                "RLIMIT_MEMLOCK: {} ({} pages)",
                hsize(bytes),
                bytes >> geo.page_shift
            );
        }
        None => {
            let _ = writeln!(o, "RLIMIT_MEMLOCK: not checked (CAP_IPC_LOCK: ctx->user is NULL; pinned_vm still counts)");
        }
    }
    if !s.faults.points.is_empty() {
        let f: Vec<String> = s.faults.points.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(o, "faults: {}", f.join("; "));
    }

    layout(&mut o, s, &b);

    // Operations.
    let _ = writeln!(
        o,
        "\nOPERATIONS (return value per side; buffers, pins and accounting where they changed)"
    );
    let n_ops = b.ops.len();
    for i in 0..=n_ops {
        let kind = if i < n_ops {
            crate::run::op_kind(&b.ops[i])
        } else {
            "ring_exit"
        };
        let rets: Vec<String> = names
            .iter()
            .zip(&traces)
            .map(|(n, t)| format!("{n} {}", ret_text(t[i + 1].ret)))
            .collect();
        let _ = writeln!(o, "\n  op {i} {kind:<16} {}", rets.join("  |  "));
        if i < n_ops {
            describe_op(&mut o, s, &b, i);
        }
        for (n, t) in names.iter().zip(&traces) {
            if !t[i + 1].faults.is_empty() {
                let f: Vec<String> = t[i + 1].faults.iter().map(|x| x.to_string()).collect();
                let _ = writeln!(o, "    {n}: allocation failed at {}", f.join(", "));
            }
        }
        // Imports: what each side touched, and what the user range holds.
        if let Some(ConcreteOp::Import { buf_addr, len, .. }) = b.ops.get(i) {
            let _ = writeln!(
                o,
                "    the user range is backed by {}",
                ranges(w, &user_range(w, *buf_addr, *len))
            );
        }
        if let Some(ConcreteOp::Readv { iovecs, .. }) = b.ops.get(i) {
            let mut want = Vec::new();
            for iov in iovecs {
                for r in user_range(w, iov.iov_base, iov.iov_len) {
                    crate::model::iov_iter::push_merged(&mut want, r);
                }
            }
            let _ = writeln!(o, "    the user ranges are backed by {}", ranges(w, &want));
        }
        for (n, t) in names.iter().zip(&traces) {
            if let Some(r) = &t[i + 1].import {
                let _ = writeln!(o, "    {n} touches {}", ranges(w, r));
            }
        }
        // Buffers that changed.
        let nslots = traces
            .iter()
            .map(|t| t[i].slots.len().max(t[i + 1].slots.len()))
            .max()
            .unwrap_or(0);
        for slot in 0..nslots {
            let changed = traces
                .iter()
                .any(|t| t[i].slots.get(slot) != t[i + 1].slots.get(slot));
            if !changed {
                continue;
            }
            let now: Vec<Option<&Buf>> = traces
                .iter()
                .map(|t| t[i + 1].slots.get(slot).and_then(|x| x.as_ref()))
                .collect();
            match now.iter().flatten().next() {
                None => {
                    let _ = writeln!(o, "    slot {slot}: empty now (released on every side)");
                    continue;
                }
                Some(first) => {
                    let _ = writeln!(
                        o,
                        "    slot {slot}: ubuf {:#x} len {:#x} ({})",
                        first.ubuf,
                        first.len,
                        hsize(first.len)
                    );
                }
            }
            for (n, buf) in names.iter().zip(&now) {
                match buf {
                    None => {
                        let _ = writeln!(o, "      {n}: empty");
                    }
                    Some(buf) => bufdesc(&mut o, w, n, buf),
                }
            }
        }
        let tables: Vec<usize> = traces.iter().map(|t| t[i + 1].table_nr).collect();
        if traces.iter().any(|t| t[i].table_nr != t[i + 1].table_nr) {
            let t: Vec<String> = names
                .iter()
                .zip(&tables)
                .map(|(n, x)| format!("{n} {x}"))
                .collect();
            let _ = writeln!(o, "    table size: {}", t.join(", "));
        }
        // Pins per folio that changed on either side.
        for f in 0..w.phys.folios().len() {
            if traces.iter().all(|t| t[i].pins[f] == t[i + 1].pins[f]) {
                continue;
            }
            let p: Vec<String> = names
                .iter()
                .zip(&traces)
                .map(|(n, t)| format!("{n} {} -> {}", t[i].pins[f], t[i + 1].pins[f]))
                .collect();
            let _ = writeln!(
                o,
                "    pins on folio {f} ({}): {}",
                folio_kind(s, f),
                p.join(", ")
            );
        }
        if traces
            .iter()
            .any(|t| (t[i].locked_vm, t[i].pinned_vm) != (t[i + 1].locked_vm, t[i + 1].pinned_vm))
        {
            let a: Vec<String> = names
                .iter()
                .zip(&traces)
                .map(|(n, t)| {
                    let s = &t[i + 1];
                    match s.locked_vm {
                        Some(l) => format!(
                            "{n} locked_vm {} pinned_vm {}",
                            l as i64, s.pinned_vm as i64
                        ),
                        None => format!("{n} pinned_vm {}", s.pinned_vm as i64),
                    }
                })
                .collect();
            let _ = writeln!(o, "    accounting (pages): {}", a.join(", "));
        }
    }

    findings(&mut o, &verdict);
    let _ = writeln!(
        o,
        "\nto reproduce:\n{}",
        replay_command(path, v.name(), against.name())
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::{rfc_v1::RfcV1, upstream::Upstream};

    const ALIASED: &str = "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n\
        [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 2097152 } }]\n";

    #[test]
    fn the_aliased_report_shows_both_bvec_arrays_and_the_rule() {
        let s = Scenario::from_toml(ALIASED).unwrap();
        let r = explain_with(
            &s,
            &RfcV1,
            &Upstream,
            Some(Path::new("corpus/rfc-v1/aliased.toml")),
        );
        assert!(r.contains("ALIASED"), "{r}");
        assert!(r.contains("upstream: nr_bvecs 2, folio_shift 21"), "{r}");
        assert!(r.contains("rfc-v1: nr_bvecs 1, folio_shift 21"), "{r}");
        assert!(r.contains("bv_len sum 0x200000, imu->len 0x400000"), "{r}");
        assert!(
            r.contains("pins on folio 0 (hugetlb-pmd): upstream 0 -> 2, rfc-v1 0 -> 1"),
            "{r}"
        );
        assert!(r.contains("rfc-v1:invariant:coverage"), "{r}");
        assert!(r.contains("io_release_ubuf"), "{r}");
        assert!(
            r.trim_end()
                .ends_with("regbuf-fuzz replay corpus/rfc-v1/aliased.toml --variant rfc-v1"),
            "{r}"
        );
    }

    #[test]
    fn a_scenario_that_does_not_build_is_said_so() {
        let mut s = Scenario::from_toml(ALIASED).unwrap();
        s.segments[1].folio = Some(3);
        let r = explain(&s, &RfcV1, &Upstream);
        assert!(
            r.contains("does not build: field `segment[1].folio`"),
            "{r}"
        );
        assert!(
            r.trim_end()
                .ends_with("regbuf-fuzz replay <FILE> --variant rfc-v1"),
            "{r}"
        );
    }

    #[test]
    fn long_bvec_arrays_are_cut_and_holes_drawn() {
        let s = Scenario::from_toml(
            "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
             [[segment]]\npages = 511\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n\
             [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 1, off = 0 }, end = { seg = 2, off = 2097152 } }]\n\
             [[op]]\nop = \"import\"\nslot = 0\nddir = \"write\"\nspan = { start = { seg = 1, off = 4000 }, end = { seg = 2, off = 10 } }\n",
        )
        .unwrap();
        let r = explain(&s, &Upstream, &Upstream);
        assert!(r.contains("hole: 2044 KiB unmapped"), "{r}");
        assert!(r.contains("more bvecs"), "{r}");
        assert!(r.contains("upstream touches"), "{r}");
        assert!(r.contains("FINDINGS: none"), "{r}");
    }
}
