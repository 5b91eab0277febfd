//! The C text of a reproducer: the header comment, the fixed prelude and
//! runtime (`prelude.c`, `runtime.c`, the same in every program), and
//! between them the scenario as tables the runtime walks.

use super::{guards, header, Origin, ProgramForm};
use crate::live::layout::{Backing, Fork, LayoutPlan, Place};
use crate::model::{ITER_DEST, RING_REGION_PAGES};
use crate::scenario::{ConcreteOp, FolioKindSpec, IovSpec, Op, Pos};
use std::fmt::Write;
use std::path::Path;

const PRELUDE: &str = include_str!("prelude.c");
const RUNTIME: &str = include_str!("runtime.c");

/// The whole program.
pub(super) fn render(file: &Path, form: &ProgramForm) -> String {
    let mut o = header::comment(file, form);
    o.push('\n');
    o.push_str(PRELUDE);
    o.push_str("\n/* ------------------------------------------------------------------ */\n");
    o.push_str("/* The scenario, as data. */\n\n");
    tables(&mut o, file, form);
    o.push('\n');
    o.push_str(RUNTIME);
    o
}

/// A C string literal.
pub(super) fn c_str(s: &str) -> String {
    let mut o = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            ' '..='~' => o.push(ch),
            _ => o.push('?'),
        }
    }
    o.push('"');
    o
}

fn kind_c(k: FolioKindSpec) -> &'static str {
    match k {
        FolioKindSpec::Small => "SMALL",
        FolioKindSpec::Mthp => "MTHP",
        FolioKindSpec::Thp => "THP",
        FolioKindSpec::HugetlbPmd => "HUGETLB_PMD",
        FolioKindSpec::HugetlbPud => "HUGETLB_PUD",
        FolioKindSpec::ShmemThp => "SHMEM_THP",
        FolioKindSpec::ShmemMthp => "SHMEM_MTHP",
        FolioKindSpec::HugetlbPmdPrivate => "HUGETLB_PMD_PRIVATE",
        FolioKindSpec::HugetlbPudPrivate => "HUGETLB_PUD_PRIVATE",
        // Refused before any C is written: x86-64 has none.
        FolioKindSpec::HugetlbContPte => "HUGETLB_CONT_PTE",
        FolioKindSpec::HugetlbContPmd => "HUGETLB_CONT_PMD",
    }
}

fn iov_c(addr: u64, len: u64) -> String {
    match LayoutPlan::place(addr) {
        Place::Base(off) => format!("\t{{ 1, {off:#x}ULL, {len:#x}ULL }},"),
        Place::Literal(a) => format!("\t{{ 0, {a:#x}ULL, {len:#x}ULL }},"),
    }
}

fn tables(o: &mut String, file: &Path, form: &ProgramForm) {
    let _ = writeln!(
        o,
        "static const char corpus_file[] = {};",
        c_str(&file.display().to_string())
    );
    let (plan_folios, plan_segments, reserve) = match &form.plan {
        Ok(p) => (p.folios.as_slice(), p.segments.as_slice(), p.reserve),
        Err(_) => (&[][..], &[][..], 0),
    };
    let _ = writeln!(
        o,
        "static const char *const unsupported = {};",
        match &form.plan {
            Ok(_) => "NULL".to_string(),
            Err(e) => c_str(e),
        }
    );
    let count = |k: FolioKindSpec| plan_folios.iter().filter(|f| f.kind == k).count();
    // The pool pages a hugetlb size takes: a page a live child maps takes a
    // second one when a pin copies it.
    let pool = |k: FolioKindSpec| {
        plan_folios
            .iter()
            .filter(|f| f.kind.sized() == k)
            .map(|f| match f.backing {
                Backing::PrivateHuge {
                    fork: Fork::ChildMaps,
                    ..
                } => 2,
                _ => 1,
            })
            .sum::<usize>()
    };
    let memlock = form
        .scenario
        .memlock
        .map(|m| m.bytes_at(&form.built.world.geo));
    let pattern = form
        .built
        .ops
        .iter()
        .map(|op| match op {
            ConcreteOp::Import { ddir, len, .. } if *ddir == ITER_DEST => *len,
            ConcreteOp::Readv { ddir, iovecs, .. } if *ddir == ITER_DEST => {
                iovecs.iter().map(|v| v.iov_len).sum()
            }
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        o,
        "static const unsigned long reserve_bytes = {reserve:#x}UL;"
    );
    let _ = writeln!(
        o,
        "static const int need_2m = {}, need_1g = {}, need_mthp = {}, need_shmem = {};",
        pool(FolioKindSpec::HugetlbPmd),
        pool(FolioKindSpec::HugetlbPud),
        u8::from(count(FolioKindSpec::Mthp) > 0),
        u8::from(count(FolioKindSpec::ShmemThp) + count(FolioKindSpec::ShmemMthp) > 0)
    );
    let _ = writeln!(
        o,
        "/* Spare 2 MiB pages reserved to choose guard pages from. */\nstatic const int spare_2m = {};",
        guards(form)
    );
    let _ = writeln!(
        o,
        "static const int has_memlock = {};\nstatic const unsigned long long memlock_bytes = {:#x}ULL;",
        u8::from(memlock.is_some()),
        memlock.unwrap_or(0)
    );
    let _ = writeln!(
        o,
        "/* io_uring_setup charges the ring's own {RING_REGION_PAGES} pages to RLIMIT_MEMLOCK. */\nstatic const unsigned long long ring_only_bytes = {:#x}ULL;",
        RING_REGION_PAGES * 4096
    );
    let _ = writeln!(
        o,
        "static const unsigned long long pattern_bytes = {pattern:#x}ULL; /* longest fixed read */\n"
    );

    let _ = writeln!(o, "#define N_FOLIOS {}", plan_folios.len());
    let _ = writeln!(o, "static const struct folio folios[] = {{");
    for (i, f) in plan_folios.iter().enumerate() {
        let (mut private, mut fork) = (0, "NO_FORK");
        let (name, flags, size, populate) = match &f.backing {
            Backing::Memfd {
                name,
                flags,
                size,
                populate,
            } => (c_str(name), *flags, *size, *populate),
            Backing::Anon { size } => ("NULL".to_string(), 0, *size, false),
            Backing::PrivateHuge {
                flags,
                size,
                fork: how,
            } => {
                private = *flags;
                fork = match how {
                    Fork::No => "NO_FORK",
                    Fork::Exited => "FORK_EXITED",
                    Fork::ChildMaps => "FORK_CHILD_MAPS",
                };
                ("NULL".to_string(), 0, *size, false)
            }
        };
        let _ = writeln!(
            o,
            "\t{{ {}, {}, {name}, {flags:#x}U, {size:#x}UL, {}, {private:#x}, {fork} }}, /* folio {i} */",
            kind_c(f.kind),
            f.nr_pages,
            u8::from(populate)
        );
    }
    let _ = writeln!(
        o,
        "\t{{ SMALL, 0, NULL, 0, 0, 0, 0, NO_FORK }} /* end */\n}};\n"
    );

    let _ = writeln!(o, "#define N_SEGMENTS {}", plan_segments.len());
    let _ = writeln!(o, "static const struct segment segments[] = {{");
    for (i, sg) in plan_segments.iter().enumerate() {
        let _ = writeln!(
            o,
            "\t{{ {:#x}UL, {:#x}UL, {}, {}, {} }}, /* seg {i} */",
            sg.offset,
            sg.bytes,
            sg.folio.map_or(-1, |f| f as i64),
            sg.first_page,
            u8::from(sg.readonly)
        );
    }
    let _ = writeln!(o, "\t{{ 0, 0, -1, 0, 0 }} /* end */\n}};\n");

    let mut iovs = String::new();
    let mut pieces = String::new();
    let mut ops = String::new();
    let (mut niov, mut npieces) = (0usize, 0usize);
    for (i, op) in form.built.ops.iter().enumerate() {
        let e = &form.expects[i];
        let iov0 = niov;
        let mut push_iov = |a: u64, l: u64| {
            let _ = writeln!(iovs, "{} /* op {i} */", iov_c(a, l));
            niov += 1;
        };
        let (kind, slot, nr) = match op {
            ConcreteOp::Register { iovecs } => {
                iovecs.iter().for_each(|v| push_iov(v.iov_base, v.iov_len));
                ("REGISTER", 0, iovecs.len())
            }
            ConcreteOp::RegisterSparse { nr } => ("REGISTER_SPARSE", 0, *nr as usize),
            ConcreteOp::Update { offset, iovecs } => {
                iovecs.iter().for_each(|v| push_iov(v.iov_base, v.iov_len));
                ("UPDATE", *offset, iovecs.len())
            }
            ConcreteOp::Unregister => ("UNREGISTER", 0, 0),
            ConcreteOp::Ring { .. } | ConcreteOp::Clone(_) => {
                unreachable!("emit() refuses rings and clones")
            }
            ConcreteOp::KbufRegister { .. }
            | ConcreteOp::KbufUnregister { .. }
            | ConcreteOp::KbufImport { .. }
            | ConcreteOp::KbufReadv { .. } => {
                unreachable!("emit() refuses kernel buffers")
            }
            ConcreteOp::Import {
                slot,
                ddir,
                buf_addr,
                len,
                ..
            } => {
                push_iov(*buf_addr, *len);
                let k = if *ddir == ITER_DEST {
                    "READ_FIXED"
                } else {
                    "WRITE_FIXED"
                };
                (k, *slot, 1)
            }
            ConcreteOp::Readv {
                slot, ddir, iovecs, ..
            } => {
                iovecs.iter().for_each(|v| push_iov(v.iov_base, v.iov_len));
                let k = if *ddir == ITER_DEST {
                    "READV_FIXED"
                } else {
                    "WRITEV_FIXED"
                };
                (k, *slot, iovecs.len())
            }
            ConcreteOp::Complete => unreachable!("rejected by emit"),
        };
        let p0 = npieces;
        for p in e.pieces.iter().flatten() {
            let _ = writeln!(
                pieces,
                "\t{{ {}, {:#x}ULL, {:#x}ULL, {:#x}ULL }}, /* op {i} */",
                p.folio, p.off, p.len, p.k
            );
            npieces += 1;
        }
        let _ = writeln!(
            ops,
            "\t{{ {kind}, {slot}, {nr}, {iov0}, {}, {}, {}, {p0}, {}, {}, /* op {i} */\n\t  {} }},",
            e.ret,
            e.pin_kb,
            u8::from(e.pieces.is_some()),
            npieces - p0,
            e.copies,
            c_str(&label(form, i))
        );
    }
    let _ = writeln!(
        o,
        "static const struct iov iovs[] = {{\n{iovs}\t{{ 0, 0, 0 }} /* end */\n}};\n"
    );
    let _ = writeln!(
        o,
        "static const struct piece pieces[] = {{\n{pieces}\t{{ 0, 0, 0, 0 }} /* end */\n}};\n"
    );
    let _ = writeln!(o, "#define N_OPS {}", form.built.ops.len());
    let _ = writeln!(
        o,
        "/* kind, slot, nr, iov, want_ret, want_pin_kb, check, piece, npieces, want_copies, what */"
    );
    let _ = writeln!(o, "static const struct op ops[] = {{\n{ops}}};");
}

/// How the program names operation `i` when it prints it.
pub(super) fn label(form: &ProgramForm, i: usize) -> String {
    let pos = |p: &Pos| format!("seg {} +{:#x}", p.seg, p.off);
    let op = &form.scenario.ops[i];
    let what = match op {
        Op::Register { iovecs } | Op::Update { iovecs, .. } => {
            let v: Vec<String> = iovecs
                .iter()
                .map(|iov| match iov {
                    IovSpec::Range { start, end } => format!("[{} .. {})", pos(start), pos(end)),
                    IovSpec::Sized { start, len } => {
                        format!(
                            "{} + {:#x}",
                            pos(start),
                            len.bytes_at(&form.built.world.geo)
                        )
                    }
                    IovSpec::Null { len } => {
                        format!("NULL + {:#x}", len.bytes_at(&form.built.world.geo))
                    }
                    IovSpec::Raw { base, len } => format!("{base:#x} + {len:#x}"),
                })
                .collect();
            match op {
                Op::Update { offset, .. } => {
                    format!(
                        "IORING_REGISTER_BUFFERS_UPDATE from slot {offset}: {}",
                        v.join(", ")
                    )
                }
                _ => format!("IORING_REGISTER_BUFFERS: {}", v.join(", ")),
            }
        }
        Op::RegisterSparse { nr } => format!("IORING_REGISTER_BUFFERS2, {nr} empty slots"),
        Op::Unregister => "IORING_UNREGISTER_BUFFERS".into(),
        Op::Ring { .. } | Op::Clone { .. } => unreachable!("emit() refuses rings and clones"),
        Op::KbufRegister { .. }
        | Op::KbufUnregister { .. }
        | Op::KbufImport { .. }
        | Op::KbufReadv { .. } => unreachable!("emit() refuses kernel buffers"),
        Op::Import { slot, span, .. } => format!(
            "{} slot {slot} [{} .. {})",
            if super::is_read(&form.built.ops[i]) {
                "READ_FIXED"
            } else {
                "WRITE_FIXED"
            },
            pos(&span.start),
            pos(&span.end)
        ),
        Op::Readv { slot, spans, .. } => {
            let v: Vec<String> = spans
                .iter()
                .map(|s| format!("[{} .. {})", pos(&s.start), pos(&s.end)))
                .collect();
            format!(
                "{} slot {slot} {}",
                if super::is_read(&form.built.ops[i]) {
                    "READV_FIXED"
                } else {
                    "WRITEV_FIXED"
                },
                v.join(" ")
            )
        }
        Op::Complete => "the oldest request in flight completes".into(),
    };
    match &form.origins[i] {
        Origin::Scenario(j) => format!("(scenario op {j}) {what}"),
        Origin::Probe { op, why } => format!("(probe after scenario op {op}) {what}: {why}"),
    }
}
