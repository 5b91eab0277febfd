//! What the fuzzer tells people: one-line finding summaries for `replay`,
//! the JSON lines of every `--json` ([`json`]), the replay command that reproduces a
//! result, and [`explain`], a terminal drawing of one scenario for a kernel
//! reviewer (layout, bvecs of each side, pins, and each finding with the
//! rule it breaks in the reviewer's words); [`mail`], the same finding as a
//! mail to the io_uring list with its C reproducer, and [`svg`], a drawing
//! of its layout and both sides' bvecs.

mod explain;
pub mod json;
mod mail;
mod svg;

pub(crate) use explain::{
    acct_text, folio_kind, hsize, ranges, ret_text, sides, wrap, Buf, Sides, Step,
};
pub use explain::{explain, explain_with};
pub use mail::mail;
pub use svg::svg;

use crate::oracle::{Finding, FindingKind, INVARIANTS};
use std::path::Path;

/// One line for a finding: signature, where, and the first line of what
/// each side said.
pub fn finding_summary(f: &Finding) -> String {
    let known = f.known.map_or_else(String::new, |k| {
        format!(" [known bug, fixed by {}]", k.fixed_by)
    });
    format!(
        "{}{known}  after op {} ({}): {}{}",
        f.signature(),
        f.op,
        f.op_kind,
        one_line(&f.detail),
        times(f.count)
    )
}

/// One line for each of the invariant's other aspects broken with `f`
/// ([`Finding::also`]), to print under its summary.
pub fn also_summaries(f: &Finding) -> Vec<String> {
    f.also
        .iter()
        .map(|v| {
            format!(
                "also {}/{}: {}{}",
                v.invariant,
                v.aspect,
                one_line(&v.detail),
                times(v.count)
            )
        })
        .collect()
}

/// A detail on one line, cut at 240 characters: a summary line stays one
/// that a terminal and a log grep can take.
fn one_line(detail: &str) -> String {
    let detail: Vec<&str> = detail
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let detail = detail.join("; ");
    if detail.chars().count() > 240 {
        format!("{}…", detail.chars().take(240).collect::<String>())
    } else {
        detail
    }
}

/// ` (N times)` after a detail seen more than once, else nothing: the
/// detail shown is the first of them.
/// The sizes of a geometry in one line: pages, every huge folio it has
/// (naming the scenario kind each is), and the limits.
pub fn geometry_sizes(g: &crate::mm::Geometry) -> String {
    let mut o = format!(
        "pages {}, PMD folios {} (thp, hugetlb-pmd)",
        hsize(g.page_size()),
        hsize(g.folio_bytes(g.pmd_order))
    );
    match g.pud_order {
        Some(p) => o.push_str(&format!(
            ", PUD folios {} (hugetlb-pud)",
            hsize(g.folio_bytes(p))
        )),
        None => o.push_str(", no PUD folio"),
    }
    if let Some(c) = g.cont_pte_order {
        o.push_str(&format!(
            ", cont-PTE {} (hugetlb-cont-pte)",
            hsize(g.folio_bytes(c))
        ));
    }
    if let Some(c) = g.cont_pmd_order {
        o.push_str(&format!(
            ", cont-PMD {} (hugetlb-cont-pmd)",
            hsize(g.folio_bytes(c))
        ));
    }
    o.push_str(&format!(
        "; SZ_1G {}, SZ_1T {}, INT_MAX {}, MAX_RW_COUNT {:#x}",
        hsize(g.sz_1g()),
        hsize(g.sz_1t()),
        g.int_max(),
        g.max_rw_count()
    ));
    o
}

pub(crate) fn times(count: u32) -> String {
    if count > 1 {
        format!(" ({count} times)")
    } else {
        String::new()
    }
}

/// What a finding's kind means, in a reviewer's words: the invariant's rule,
/// or what differs between the two versions.
pub fn kind_meaning(kind: &FindingKind) -> String {
    match kind {
        FindingKind::Invariant(name, _) => INVARIANTS
            .iter()
            .find(|i| i.name == *name)
            .map_or_else(|| format!("invariant `{name}`"), |i| i.rule.split_whitespace().collect::<Vec<_>>().join(" ")),
        FindingKind::Diff(name) => match *name {
            "return" => "the two versions return different values to user space for the same call".into(),
            "import" => "a READ_FIXED/WRITE_FIXED import reaches different physical bytes on the two versions".into(),
            "table" => {
                "the buffer tables differ: a different size, or a slot installed on one side and empty on the other".into()
            }
            "coverage" => {
                "a registered buffer names different physical bytes on the two versions (ubuf, len, or what its bvecs point at)"
                    .into()
            }
            "accounting" => "the versions charge a different number of pages to locked_vm / pinned_vm (acct_pages)".into(),
            "pinned_vm" => {
                "the versions charge the same to locked_vm (or the ring has no user) but a different number of pages to \
                 mm->pinned_vm (VmPin in /proc/PID/status)"
                    .into()
            }
            "pinned_folios" => "different folios stay pinned on the two versions".into(),
            "kbuf" => "a slot holds a kernel buffer on one version and a user buffer on the other, or kernel buffers \
                       of different directions (imu->dir)"
                .into(),
            "kbuf_release" => {
                "the driver's release callback has run a different number of times for a registered request on \
                 the two versions (one gives a request back earlier, or not at all)"
                    .into()
            }
            other => format!("the versions differ in `{other}`"),
        },
    }
}

/// The command that replays `path` for `variant` against `against`
/// (`<FILE>` when there is no file yet).
pub fn replay_command(path: Option<&Path>, variant: &str, against: &str) -> String {
    let file = path.map_or_else(
        || "<FILE>".to_string(),
        |p| shell_quote(&p.display().to_string()),
    );
    let mut c = format!(
        "regbuf-fuzz replay {file}{} --variant {variant}",
        crate::ctree::cli::flags()
    );
    if against != "upstream" {
        c.push_str(&format!(" --against {against}"));
    }
    c
}

/// `s` quoted for a POSIX shell when it needs to be.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_commands_quote_odd_paths() {
        assert_eq!(
            replay_command(
                Some(Path::new("corpus/rfc-v1/aliased.toml")),
                "rfc-v1",
                "upstream"
            ),
            "regbuf-fuzz replay corpus/rfc-v1/aliased.toml --variant rfc-v1"
        );
        assert_eq!(
            replay_command(Some(Path::new("a b/it's.toml")), "x", "y"),
            "regbuf-fuzz replay 'a b/it'\\''s.toml' --variant x --against y"
        );
    }

    #[test]
    fn summaries_are_one_line() {
        let f = Finding {
            kind: FindingKind::Diff("import"),
            variant: "rfc-v1",
            op: 2,
            op_kind: "import",
            detail: "upstream: a\nrfc-v1: b".into(),
            count: 1,
            also: Vec::new(),
            known: None,
        };
        let s = finding_summary(&f);
        assert_eq!(
            s,
            "rfc-v1:diff:import  after op 2 (import): upstream: a; rfc-v1: b"
        );
        assert!(
            kind_meaning(&FindingKind::Invariant("coverage", "length".into()))
                .contains("io_release_ubuf")
        );
    }

    #[test]
    fn other_aspects_follow_their_finding_one_line_each() {
        let also = |aspect: &str, detail: &str, count| crate::oracle::Violation {
            invariant: "pins",
            aspect: aspect.into(),
            detail: detail.into(),
            count,
            primary: false,
        };
        let f = Finding {
            kind: FindingKind::Invariant("pins", "underflow".into()),
            variant: "rfc-v1",
            op: 0,
            op_kind: "register",
            detail: "folio at pfn 0x0 unpinned below its start".into(),
            count: 3,
            also: vec![also(
                "count",
                "folio 0 holds -1 pins\nbut 1 will unpin it",
                2,
            )],
            known: None,
        };
        assert_eq!(
            finding_summary(&f),
            "rfc-v1:invariant:pins/underflow  after op 0 (register): folio at pfn 0x0 unpinned below its start (3 times)"
        );
        assert_eq!(
            also_summaries(&f),
            ["also pins/count: folio 0 holds -1 pins; but 1 will unpin it (2 times)"]
        );
    }
}
