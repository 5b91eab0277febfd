//! `regbuf-fuzz report --svg`: one finding drawn as hand-written SVG: the
//! virtual layout with the registered iovecs, the physical folios it maps,
//! and each side's bvecs as bars under the folios, with an arrow from the
//! buffer offset each bvec starts at. Bytes a bvec names outside every
//! folio that side pins are red.
//!
//! Sizes span bytes to gigabytes, so each axis gives every segment or
//! folio a minimum width and shares the rest by size; positions inside one
//! are linear.

use super::{folio_kind, hsize, sides, Sides};
use crate::model::World;
use crate::scenario::{ConcreteOp, Scenario};
use crate::variants::{self, Variant};
use std::fmt::Write;

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;
const IN_PINNED: &str = "#3b7dd8";
const OUTSIDE: &str = "#d62728";
/// Most bvecs drawn per buffer; the rest are counted in a note.
const MAX_BARS: usize = 200;
/// Buffers with at most this many bvecs get a label and an arrow per bvec;
/// longer ones name each bvec in its tooltip and draw the first and last arrow.
const FEW: usize = 6;

/// A piecewise-linear axis: `(first byte, end, x0, x1)` per item.
struct Axis(Vec<(u64, u64, f64, f64)>);

impl Axis {
    /// Items `(start, end, minimum width)` laid out over the drawing width.
    fn new(items: &[(u64, u64, f64)]) -> Axis {
        let span = WIDTH - LEFT - RIGHT;
        let fixed: f64 = items.iter().map(|i| i.2).sum();
        let total: f64 = items
            .iter()
            .map(|i| (i.1 - i.0) as f64)
            .sum::<f64>()
            .max(1.0);
        let spare = (span - fixed).max(0.0);
        let mut x = LEFT;
        Axis(
            items
                .iter()
                .map(|&(a, b, min)| {
                    let w = min + spare * (b - a) as f64 / total;
                    let r = (a, b, x, x + w);
                    x += w;
                    r
                })
                .collect(),
        )
    }

    fn x(&self, at: u64) -> f64 {
        for &(a, b, x0, x1) in &self.0 {
            if at >= a && at <= b {
                return x0 + (x1 - x0) * (at - a) as f64 / (b - a).max(1) as f64;
            }
        }
        match self.0.first() {
            Some(&(a, _, x0, _)) if at < a => x0,
            _ => self.0.last().map_or(LEFT, |i| i.3),
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fill_of(kind: &str) -> &'static str {
    if kind.starts_with("hugetlb") {
        "#cfe8cf"
    } else if kind == "thp" || kind.starts_with("mthp") {
        "#f6dfbf"
    } else {
        "#e4e4e4"
    }
}

/// The step drawn: after the primary finding's operation when a buffer is
/// installed then, else the last step with one, else (pins alone) after
/// the primary finding's operation.
fn step_of(sd: &Sides) -> usize {
    let any = |i: usize| {
        sd.traces
            .iter()
            .any(|t| t[i].slots.iter().any(Option::is_some))
    };
    let n = sd.built.ops.len();
    let primary = sd.verdict.findings.first().map(|f| (f.op + 1).min(n + 1));
    match primary {
        Some(p) if any(p) => p,
        _ => (1..=n).rev().find(|&i| any(i)).or(primary).unwrap_or(0),
    }
}

/// The drawing for scenario `s` and variant `v` against upstream.
pub fn svg(s: &Scenario, v: &'static dyn Variant) -> Result<String, String> {
    let up = variants::by_name("upstream").expect("upstream exists");
    let sd = sides(s, v, up).map_err(|e| e.to_string())?;
    let w = &sd.built.world;
    let shift = w.geo.page_shift;
    let mut o = String::new();
    // Drawn first, so the boxes and bars lie on top of it.
    let mut under = String::new();
    let mut y = 24.0;
    let title = match sd.verdict.findings.first() {
        Some(f) => f.signature(),
        None => format!("{}: no finding", v.name()),
    };
    let _ = writeln!(
        o,
        r#"<text x="10" y="{y}" font-size="14" font-weight="bold">{}</text>"#,
        esc(&title)
    );
    let _ = writeln!(
        o,
        r#"<text x="10" y="{}" font-size="11">{}</text>"#,
        y + 16.0,
        esc(v.summary())
    );
    y += 6.0;

    // Virtual row.
    y += 30.0;
    let mut items = Vec::new();
    for (k, &(va, bytes)) in sd.built.segments.iter().enumerate() {
        if k > 0 {
            let end = sd.built.segments[k - 1].0 + sd.built.segments[k - 1].1;
            if va > end {
                items.push((end, va, 14.0));
            }
        }
        items.push((va, va + bytes, 60.0));
    }
    let vaxis = Axis::new(&items);
    label(&mut o, y + 18.0, "virtual");
    for (k, (g, &(va, bytes))) in s.segments.iter().zip(&sd.built.segments).enumerate() {
        let (x0, x1) = (vaxis.x(va), vaxis.x(va + bytes));
        let (fill, text) = match g.folio {
            None => ("#ffffff", format!("seg {k}: hole")),
            Some(f) => (
                fill_of(&folio_kind(s, f as usize)),
                format!("seg {k}: folio {f}"),
            ),
        };
        let _ = writeln!(
            o,
            r##"<rect x="{x0:.1}" y="{y}" width="{:.1}" height="28" fill="{fill}" stroke="#555"{}><title>{}</title></rect>"##,
            x1 - x0,
            if g.folio.is_none() {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            },
            esc(&format!("seg {k} at {va:#x}, {}", hsize(bytes)))
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{}" font-size="10">{}</text>"#,
            x0 + 3.0,
            y + 17.0,
            esc(&text)
        );
    }
    let vrow = y;

    // Registered iovecs.
    y += 40.0;
    for (i, op) in sd.built.ops.iter().enumerate() {
        let (ConcreteOp::Register { iovecs } | ConcreteOp::Update { iovecs, .. }) = op else {
            continue;
        };
        for (j, iov) in iovecs.iter().enumerate().filter(|(_, x)| x.iov_base != 0) {
            let (x0, x1) = (vaxis.x(iov.iov_base), vaxis.x(iov.iov_base + iov.iov_len));
            label(&mut o, y + 9.0, &format!("op {i} iovec {j}"));
            let _ = writeln!(
                o,
                r##"<rect x="{x0:.1}" y="{y}" width="{:.1}" height="10" fill="#555"><title>{}</title></rect>"##,
                (x1 - x0).max(2.0),
                esc(&format!(
                    "op {i} iovec {j}: {:#x} + {:#x}",
                    iov.iov_base, iov.iov_len
                ))
            );
            y += 16.0;
        }
    }

    // Physical row: folios in pfn order, free memory between them, and a
    // zone after the last for bytes past every folio.
    y += 50.0;
    let folios = w.phys.folios();
    let mut pitems = Vec::new();
    let mut prev_end: Option<u64> = None;
    for f in folios {
        let (a, b) = (f.head << shift, (f.head + (1 << f.order)) << shift);
        if let Some(e) = prev_end.filter(|&e| e < a) {
            pitems.push((e, a, 14.0));
        }
        pitems.push((a, b, 60.0));
        prev_end = Some(b);
    }
    if let Some(e) = prev_end {
        let tail = folios
            .iter()
            .map(|f| 1u64 << (f.order + shift))
            .max()
            .unwrap_or(1);
        pitems.push((e, e + tail, 50.0));
    }
    let paxis = Axis::new(&pitems);
    label(&mut o, y + 18.0, "physical");
    let step = step_of(&sd);
    for (i, f) in folios.iter().enumerate() {
        let (a, b) = (f.head << shift, (f.head + (1 << f.order)) << shift);
        let (x0, x1) = (paxis.x(a), paxis.x(b));
        let kind = folio_kind(s, i);
        let _ = writeln!(
            o,
            r##"<rect x="{x0:.1}" y="{y}" width="{:.1}" height="28" fill="{}" stroke="#333"><title>{}</title></rect>"##,
            x1 - x0,
            fill_of(&kind),
            esc(&format!("folio {i}: {kind}, pfn {:#x}", f.head))
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{}" font-size="10">{}</text>"#,
            x0 + 3.0,
            y + 12.0,
            esc(&format!("folio {i} ({kind})"))
        );
        let pins: Vec<String> = sd
            .names
            .iter()
            .zip(&sd.traces)
            .map(|(n, t)| format!("{n} {}", t[step].pins[i]))
            .collect();
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{}" font-size="9">{}</text>"#,
            x0 + 3.0,
            y + 24.0,
            esc(&format!("pins: {}", pins.join(", ")))
        );
    }
    if let Some(&(a, _, x0, x1)) = paxis.0.last() {
        let _ = writeln!(
            o,
            r##"<rect x="{x0:.1}" y="{y}" width="{:.1}" height="28" fill="#fbe3e3" stroke="#999" stroke-dasharray="4 3"><title>{}</title></rect>"##,
            x1 - x0,
            esc(&format!("memory after the last folio, from {a:#x}"))
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{}" font-size="10">not in any folio of the layout</text>"#,
            x0 + 3.0,
            y + 17.0
        );
    }
    // What maps what.
    for (g, &(va, bytes)) in s.segments.iter().zip(&sd.built.segments) {
        let Some(fi) = g.folio else { continue };
        let pa = (folios[fi as usize].head + g.first) << shift;
        let _ = writeln!(
            under,
            r##"<polygon points="{:.1},{} {:.1},{} {:.1},{y} {:.1},{y}" fill="#888" fill-opacity="0.18" stroke="none"/>"##,
            vaxis.x(va),
            vrow + 28.0,
            vaxis.x(va + bytes),
            vrow + 28.0,
            paxis.x(pa + bytes),
            paxis.x(pa)
        );
    }

    // Each side's bvecs.
    y += 60.0;
    let _ = writeln!(
        o,
        r#"<text x="10" y="{y}" font-size="11">{}</text>"#,
        esc(&format!(
            "bvecs after op {} (blue: bytes in a folio the buffer pins; red: outside every such folio)",
            step.saturating_sub(1)
        ))
    );
    y += 16.0;
    for (name, t) in sd.names.iter().zip(&sd.traces) {
        let st = &t[step];
        if st.slots.iter().all(Option::is_none) {
            label(&mut o, y + 10.0, name);
            let _ = writeln!(
                o,
                r#"<text x="{LEFT}" y="{}" font-size="10">no buffer installed</text>"#,
                y + 10.0
            );
            y += 26.0;
            continue;
        }
        for (slot, b) in st.slots.iter().enumerate() {
            let Some(b) = b else { continue };
            label(&mut o, y + 14.0, &format!("{name} slot {slot}"));
            let mut off = 0;
            for (i, bv) in b.bvecs.iter().enumerate().take(MAX_BARS) {
                let Some(bv) = bv else {
                    let x = paxis.x(u64::MAX);
                    let _ = writeln!(
                        o,
                        r#"<text x="{:.1}" y="{}" font-size="9" fill="{OUTSIDE}">{} bvec[{i}] never written</text>"#,
                        x - 120.0,
                        y + 30.0,
                        esc(name)
                    );
                    continue;
                };
                let start = (bv.bv_page << shift).wrapping_add(bv.bv_offset);
                let few = b.bvecs.len() <= FEW;
                bar(
                    &mut o,
                    w,
                    &paxis,
                    y,
                    start,
                    bv.bv_len,
                    &st.pins,
                    (name, i),
                    few,
                );
                if !few && i > 0 && i + 1 < b.bvecs.len() {
                    off += bv.bv_len;
                    continue;
                }
                let _ = writeln!(
                    under,
                    r##"<line x1="{:.1}" y1="{}" x2="{:.1}" y2="{}" stroke="#777" stroke-width="0.6" marker-end="url(#arrow)"/>"##,
                    vaxis.x(b.ubuf + off),
                    vrow + 28.0,
                    paxis.x(start),
                    y
                );
                off += bv.bv_len;
            }
            if b.bvecs.len() > FEW {
                let _ = writeln!(
                    o,
                    r#"<text x="10" y="{}" font-size="9">{} bvecs (each named in its tooltip)</text>"#,
                    y + 28.0,
                    b.bvecs.len()
                );
            }
            if b.bvecs.len() > MAX_BARS {
                let _ = writeln!(
                    o,
                    r#"<text x="{LEFT}" y="{}" font-size="9">… and {} more bvecs</text>"#,
                    y + 30.0,
                    b.bvecs.len() - MAX_BARS
                );
            }
            let sum: u64 = b.bvecs.iter().flatten().map(|x| x.bv_len).sum();
            if sum != b.len {
                let _ = writeln!(
                    o,
                    r#"<text x="{LEFT}" y="{}" font-size="10" fill="{OUTSIDE}">{}</text>"#,
                    y + 58.0,
                    esc(&format!(
                        "bv_len adds up to {sum:#x}; imu->len is {:#x}: the rest of the buffer has no bvec",
                        b.len
                    ))
                );
                y += 12.0;
            }
            y += 60.0;
        }
    }
    y += 10.0;
    let _ = writeln!(
        o,
        r#"<rect x="10" y="{y}" width="12" height="10" fill="{IN_PINNED}"/><text x="26" y="{}" font-size="10">bytes in a folio the buffer pins</text><rect x="230" y="{y}" width="12" height="10" fill="{OUTSIDE}"/><text x="246" y="{}" font-size="10">bytes outside every folio it pins</text>"#,
        y + 9.0,
        y + 9.0
    );
    let height = y + 30.0;
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\">\n<defs><marker id=\"arrow\" markerWidth=\"6\" markerHeight=\"6\" refX=\"5\" refY=\"3\" orient=\"auto\"><path d=\"M0,0 L6,3 L0,6 z\" fill=\"#777\"/></marker></defs>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{under}{o}</svg>\n"
    ))
}

fn label(o: &mut String, y: f64, text: &str) {
    let _ = writeln!(
        o,
        r#"<text x="10" y="{y}" font-size="11">{}</text>"#,
        esc(text)
    );
}

/// One bvec (`side`, index) as a bar, cut where it leaves or enters a
/// folio this side pins; each piece at least a few pixels wide and after the
/// previous one, so a one-byte piece still shows.
#[allow(clippy::too_many_arguments)]
fn bar(
    o: &mut String,
    w: &World,
    axis: &Axis,
    y: f64,
    start: u64,
    len: u64,
    pins: &[i64],
    (side, i): (&str, usize),
    labelled: bool,
) {
    let shift = w.geo.page_shift;
    let mut a = start;
    let mut prev_x1 = f64::MIN;
    let end = start.saturating_add(len);
    while a < end {
        let folio = w.phys.page_folio(a >> shift);
        let (b, pinned) = match folio {
            Some(f) => {
                let fe = (w.phys.folio(f).head + w.phys.folio_nr_pages(f)) << shift;
                (fe.min(end), pins[f.0 as usize] > 0)
            }
            None => {
                let next = w
                    .phys
                    .folios()
                    .iter()
                    .map(|f| f.head << shift)
                    .filter(|&h| h > a)
                    .min()
                    .unwrap_or(end);
                (next.min(end), false)
            }
        };
        let x0 = axis.x(a).max(prev_x1);
        let x1 = axis.x(b).max(x0 + 5.0);
        prev_x1 = x1;
        let _ = writeln!(
            o,
            r#"<rect x="{x0:.1}" y="{y}" width="{:.1}" height="18" fill="{}" stroke="white" stroke-width="0.5"><title>{}</title></rect>"#,
            x1 - x0,
            if pinned { IN_PINNED } else { OUTSIDE },
            esc(&format!(
                "{side} bvec[{i}]: physical {a:#x}-{b:#x}{}",
                if pinned {
                    ""
                } else {
                    ", outside every folio this buffer pins"
                }
            ))
        );
        a = b;
    }
    if !labelled {
        return;
    }
    // Staggered: bvecs of aliased pages start at the same place.
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{}" font-size="9">{}</text>"#,
        axis.x(start) + 2.0,
        y + 28.0 + (i % 3) as f64 * 9.0,
        esc(&format!("{side} bvec[{i}]"))
    );
}
