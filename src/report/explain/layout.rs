//! The scenario's memory and operations as a reviewer reads them: folios,
//! the address space, and each operation with its iovecs.

#[allow(unused_imports)]
use super::*;

/// The folios, then the address space drawn top to bottom.
pub(super) fn layout(o: &mut String, s: &Scenario, b: &Built) {
    let w = &b.world;
    let geo = w.geo;
    let _ = writeln!(o, "\nFOLIOS (physical memory, in pfn order)");
    let folios = w.phys.folios();
    for (i, f) in folios.iter().enumerate() {
        let n = 1u64 << f.order;
        let users: Vec<usize> = s
            .segments
            .iter()
            .enumerate()
            .filter(|(_, g)| g.folio == Some(i as u32))
            .map(|(k, _)| k)
            .collect();
        let mut notes = Vec::new();
        match users.len() {
            0 => notes.push("not mapped".to_string()),
            _ => notes.push(format!(
                "mapped by {}",
                users
                    .iter()
                    .map(|k| format!("seg {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        if let Some(f) = s.folios.get(i).filter(|f| f.forked) {
            notes.push(if f.child_maps {
                let copy = w.phys.cow_target(crate::mm::FolioId(i as u32));
                format!(
                    "forked, the child still maps it: the first pin copies it{}",
                    copy.map_or(String::new(), |c| format!(" into folio {}", c.0))
                )
            } else {
                "forked, the child has exited: not PageAnonExclusive until pinned".into()
            });
        }
        if let Some(o) = pool_origin(s, i) {
            notes.push(format!(
                "a free pool page, mapped in folio {o}'s place once a pin copies it"
            ));
        }
        if aliased(s, w, i as u32) {
            notes.push("ALIASED: the same pages at more than one address".into());
        }
        if i > 0 {
            let p = &folios[i - 1];
            if p.head + (1 << p.order) == f.head {
                notes.push(format!("physically right after folio {}", i - 1));
            }
        }
        let pfns = if n == 1 {
            format!("{:#x}", f.head)
        } else {
            format!("{:#x}-{:#x}", f.head, f.head + n - 1)
        };
        let _ = writeln!(
            o,
            "  folio {i:<3} {:<12} order {:<2} ({:>7})  pfn {pfns:<17}  {}",
            folio_kind(s, i),
            f.order,
            hsize(geo.folio_bytes(f.order)),
            notes.join("; ")
        );
    }
    let _ = writeln!(
        o,
        "\nADDRESS SPACE (segments in address order; positions below are \"seg N +offset\")"
    );
    let mut prev_end: Option<u64> = None;
    for (k, (seg, &(va, bytes))) in s.segments.iter().zip(&b.segments).enumerate() {
        if let Some(e) = prev_end {
            if va > e {
                let _ = writeln!(
                    o,
                    "  {e:#014x} |   unmapped {} (padding to the next folio's alignment)",
                    hsize(va - e)
                );
            }
        }
        let what = match seg.folio {
            None => format!("hole: {} unmapped", hsize(bytes)),
            Some(fi) => {
                let f = &w.phys.folios()[fi as usize];
                let pages = (bytes >> geo.page_shift) / seg.count;
                let first = seg.first;
                let whole = first == 0 && pages == 1 << f.order;
                let what = if pages == 1 {
                    format!("page {first} = pfn {:#x}", f.head + first)
                } else {
                    format!(
                        "pages {first}-{} = pfn {:#x}-{:#x}",
                        first + pages - 1,
                        f.head + first,
                        f.head + first + pages - 1
                    )
                };
                let mut t = format!(
                    "{:>7}  folio {fi} ({}) {what}{}",
                    hsize(bytes / seg.count),
                    folio_kind(s, fi as usize),
                    if whole { "" } else { " (part of the folio)" }
                );
                t.push_str(if seg.readonly { "  read-only" } else { "  rw" });
                if seg.aligned {
                    t.push_str("  PMD/PUD-mapped");
                }
                if seg.count > 1 {
                    t.push_str(&format!("  x{} copies, {} in all", seg.count, hsize(bytes)));
                }
                if let Some(j) = s.segments[..k]
                    .iter()
                    .position(|g| g.folio == Some(fi) && overlaps(g, seg, 1 << f.order))
                {
                    t.push_str(&format!("  <- same pages as seg {j}"));
                }
                t
            }
        };
        let _ = writeln!(o, "  {va:#014x} +-- seg {k:<3} {what}");
        prev_end = Some(va + bytes);
    }
    if let Some(e) = prev_end {
        let _ = writeln!(o, "  {e:#014x} +-- end");
    }
}

pub(super) fn overlaps(a: &crate::scenario::Segment, b: &crate::scenario::Segment, n: u64) -> bool {
    let r = |g: &crate::scenario::Segment| (g.first, g.first + g.pages.unwrap_or(n - g.first));
    let (x, y) = (r(a), r(b));
    x.0 < y.1 && y.0 < x.1
}

/// Whether two segments map overlapping pages of folio `fi`.
pub(super) fn aliased(s: &Scenario, w: &World, fi: u32) -> bool {
    let n = 1u64 << w.phys.folios()[fi as usize].order;
    let segs: Vec<_> = s.segments.iter().filter(|g| g.folio == Some(fi)).collect();
    segs.iter()
        .enumerate()
        .any(|(i, a)| segs[i + 1..].iter().any(|b| overlaps(a, b, n)))
}

/// The operation as written and as resolved.
pub(super) fn describe_op(o: &mut String, s: &Scenario, b: &Built, i: usize) {
    let pos = |p: &Pos| format!("seg {} +{:#x}", p.seg, p.off);
    let iovs = |spec: &[IovSpec], conc: &[crate::model::Iovec]| -> Vec<String> {
        spec.iter()
            .zip(conc)
            .enumerate()
            .map(|(j, (sp, c))| {
                let written = match sp {
                    IovSpec::Range { start, end } => format!("[{} .. {})", pos(start), pos(end)),
                    IovSpec::Sized { start, len } => {
                        format!("{} with a length of {len:?}", pos(start))
                    }
                    IovSpec::Null { .. } => "NULL".into(),
                    IovSpec::Raw { .. } => "raw".into(),
                };
                format!(
                    "iovec {j}: {written} = iov_base {:#x} iov_len {:#x} ({})",
                    c.iov_base,
                    c.iov_len,
                    hsize(c.iov_len)
                )
            })
            .collect()
    };
    let lines: Vec<String> = match (&s.ops[i], &b.ops[i]) {
        (Op::Register { iovecs }, ConcreteOp::Register { iovecs: c }) => iovs(iovecs, c),
        (Op::Update { iovecs, offset }, ConcreteOp::Update { iovecs: c, .. }) => {
            let mut v = vec![format!("from slot {offset}")];
            v.extend(iovs(iovecs, c));
            v
        }
        (Op::RegisterSparse { nr }, _) => vec![format!("{nr} empty slots")],
        (
            Op::Import {
                slot,
                ddir,
                span,
                hold,
            },
            ConcreteOp::Import { buf_addr, len, .. },
        ) => {
            vec![format!(
                "{ddir:?} slot {slot}: [{} .. {}) = buf_addr {buf_addr:#x} len {len:#x}{}",
                pos(&span.start),
                pos(&span.end),
                held(*hold)
            )]
        }
        (
            Op::Readv {
                slot,
                ddir,
                spans,
                hold,
            },
            ConcreteOp::Readv { iovecs, .. },
        ) => {
            let mut v = vec![format!(
                "{ddir:?} slot {slot}, {} iovecs{}:",
                spans.len(),
                held(*hold)
            )];
            for (sp, c) in spans.iter().zip(iovecs) {
                v.push(format!(
                    "  [{} .. {}) = iov_base {:#x} iov_len {:#x}",
                    pos(&sp.start),
                    pos(&sp.end),
                    c.iov_base,
                    c.iov_len
                ));
            }
            v
        }
        (Op::Complete, _) => vec!["the oldest request in flight gets its data and is freed".into()],
        (Op::KbufRegister { dir, index, .. }, ConcreteOp::KbufRegister { rq, .. }) => {
            let mut v = vec![format!(
                "a {} request of {:#x} bytes in {} segment(s), for slot {index}:",
                if *dir == crate::scenario::Ddir::Read {
                    "READ"
                } else {
                    "WRITE"
                },
                rq.bytes(),
                rq.nr_phys_segments
            )];
            for (j, bv) in rq.bvecs.iter().enumerate() {
                v.push(format!(
                    "  bvec {j}: bv_page pfn {:#x} bv_offset {:#x} bv_len {:#x}",
                    bv.bv_page, bv.bv_offset, bv.bv_len
                ));
            }
            v
        }
        (
            Op::KbufImport {
                slot, ddir, hold, ..
            },
            ConcreteOp::KbufImport { off, len, .. },
        ) => vec![format!(
            "{ddir:?} slot {slot}: bytes [{off:#x} .. {:#x}) of its buffer{}",
            off + len,
            held(*hold)
        )],
        (
            Op::KbufReadv {
                slot, ddir, hold, ..
            },
            ConcreteOp::KbufReadv { iovecs, .. },
        ) => {
            let mut v = vec![format!(
                "{ddir:?} slot {slot}, {} iovecs{}:",
                iovecs.len(),
                held(*hold)
            )];
            for c in iovecs {
                v.push(format!(
                    "  bytes [{:#x} .. {:#x}) of its buffer",
                    c.iov_base,
                    c.iov_base + c.iov_len
                ));
            }
            v
        }
        _ => vec![],
    };
    for l in lines {
        let _ = writeln!(o, "    {l}");
    }
}
