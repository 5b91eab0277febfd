//! Small renderings the report, the mail and the JSON share: sizes,
//! return values, physical ranges, folio kinds, wrapped text.

#[allow(unused_imports)]
use super::*;

pub(crate) fn folio_kind(s: &Scenario, i: usize) -> String {
    match s.folios.get(i) {
        Some(f) => match f.kind {
            FolioKindSpec::Small => "small".into(),
            k @ (FolioKindSpec::Mthp | FolioKindSpec::ShmemMthp) => {
                format!("{}-{}", k.as_str(), f.order.unwrap_or(0))
            }
            FolioKindSpec::Thp => "thp".into(),
            k => k.as_str().into(),
        },
        None => match pool_origin(s, i) {
            Some(o) => format!("{} copy of folio {o}", s.folios[o].kind.as_str()),
            None => "?".into(),
        },
    }
}

/// For a folio past the scenario's own: the folio whose COW copy it is (the
/// build adds one pool page per `child_maps` folio, in order).
pub(crate) fn pool_origin(s: &Scenario, i: usize) -> Option<usize> {
    let k = i.checked_sub(s.folios.len())?;
    s.folios
        .iter()
        .enumerate()
        .filter(|(_, f)| f.child_maps)
        .nth(k)
        .map(|(o, _)| o)
}

pub(crate) fn ret_text(r: i64) -> String {
    if r >= 0 {
        return r.to_string();
    }
    match Errno::parse(&(-r).to_string()) {
        Some(e) => format!("{e}"),
        None => r.to_string(),
    }
}

/// Physical ranges as `folio F page P +len`, which a reviewer can match
/// against the layout.
pub(crate) fn ranges(w: &World, r: &[PhysRange]) -> String {
    if r.is_empty() {
        return "nothing".into();
    }
    let shift = w.geo.page_shift;
    let parts: Vec<String> = r
        .iter()
        .take(6)
        .map(|&(a, l)| {
            if a & UNMAPPED != 0 {
                return format!("UNMAPPED {:#x}+{l:#x}", a & !UNMAPPED);
            }
            let pfn = a >> shift;
            match w.phys.page_folio(pfn) {
                Some(f) => format!(
                    "{a:#x}+{l:#x} (folio {} page {}{})",
                    f.0,
                    w.phys.folio_page_idx(f, pfn),
                    if a % (1 << shift) != 0 {
                        format!(" +{:#x}", a % (1 << shift))
                    } else {
                        String::new()
                    }
                ),
                None => format!("{a:#x}+{l:#x} (NO folio)"),
            }
        })
        .collect();
    let more = if r.len() > 6 {
        format!(" and {} more ranges", r.len() - 6)
    } else {
        String::new()
    };
    format!("{}{more}", parts.join(", "))
}

/// `4 KiB`, `2 MiB`, or the byte count in hex.
pub(crate) fn hsize(b: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if b >= unit && b % unit == 0 {
            return format!("{} {name}", b / unit);
        }
    }
    format!("{b:#x} bytes")
}

pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + word.len() > width {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// How a request held in flight is marked in a report.
pub(crate) fn held(hold: bool) -> &'static str {
    if hold {
        ", held in flight"
    } else {
        ""
    }
}
