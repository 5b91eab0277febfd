//! Counted folio runs: how a file writes N identical folios mapped one
//! after another (a buffer of 512 small pages) as one `[[folio]]` with
//! `count = 512` and one `[[segment]]` over it, and how that reads back.
//!
//! Only files carry the counted form. Reading expands it (the folio table
//! gets the N folios, the segment N segments, every position is moved to
//! the segment its byte lies in), so everything that runs a scenario sees
//! one folio and one segment per table, as before. Writing folds back every
//! run whose folding the reading undoes exactly, so a file keeps its counts
//! through `--bless` and minimisation.

use super::build::folio_order;
use super::format::{FolioSpec, Pos, Scenario, Segment};

/// An error of a counted table: the field and the reason.
pub type RunError = (String, String);

/// Bytes of one folio of `f` at the scenario's geometry.
fn folio_bytes(s: &Scenario, f: &FolioSpec, i: usize) -> Result<u64, RunError> {
    let geo = s.geometry.geometry();
    let (order, _) = folio_order(&geo, f, i).map_err(|e| (e.field, e.reason))?;
    Ok(geo.folio_bytes(order))
}

/// Where each table of the counted form went: folio entry `c` is expanded
/// folios `folios[c]..folios[c] + count`, segment `k` expanded segments
/// `segs[k]..segs[k] + n` (n the run's count, 1 for any other segment).
struct Map {
    segs: Vec<(u32, u32, u64)>,
}

/// `s` with every counted folio and the segment over it expanded.
pub fn expand(s: &Scenario) -> Result<Scenario, RunError> {
    if s.folios.iter().all(|f| f.count == 1) {
        return Ok(s.clone());
    }
    let mut out = s.clone();
    out.folios.clear();
    let mut first = Vec::with_capacity(s.folios.len());
    for (i, f) in s.folios.iter().enumerate() {
        if f.count == 0 {
            return Err((format!("folio[{i}].count"), "must be at least 1".into()));
        }
        if f.count > 1 << 20 {
            return Err((
                format!("folio[{i}].count"),
                format!("{} folios; at most 2^20 in one run", f.count),
            ));
        }
        first.push(out.folios.len() as u32);
        out.folios.extend((0..f.count).map(|_| FolioSpec {
            count: 1,
            ..f.clone()
        }));
    }
    out.segments.clear();
    let mut map = Map { segs: vec![] };
    for (k, seg) in s.segments.iter().enumerate() {
        let start = out.segments.len() as u32;
        let Some(c) = seg.folio else {
            out.segments.push(seg.clone());
            map.segs.push((start, 1, 0));
            continue;
        };
        let Some(f) = s.folios.get(c as usize) else {
            // Left for the builder, which names the missing folio.
            out.segments.push(seg.clone());
            map.segs.push((start, 1, 0));
            continue;
        };
        let f0 = first[c as usize];
        if f.count == 1 {
            out.segments.push(Segment {
                folio: Some(f0),
                ..seg.clone()
            });
            map.segs.push((start, 1, 0));
            continue;
        }
        if seg.first != 0 || seg.pages.is_some() || seg.count != 1 {
            return Err((
                format!("segment[{k}]"),
                format!(
                    "maps folio[{c}], a run of {} folios: a segment over a run maps all of \
                     it, once (no first, pages or count)",
                    f.count
                ),
            ));
        }
        let fb = folio_bytes(s, f, c as usize)?;
        for j in 0..f.count as u32 {
            out.segments.push(Segment {
                folio: Some(f0 + j),
                ..seg.clone()
            });
        }
        map.segs.push((start, f.count as u32, fb));
    }
    // A kernel buffer's bvec names a folio of the run by its byte offset
    // into the run.
    let nfolios = out.folios.len() as u32;
    for (i, op) in out.ops.iter_mut().enumerate() {
        let super::format::Op::KbufRegister { bvecs, .. } = op else {
            continue;
        };
        for (j, b) in bvecs.iter_mut().enumerate() {
            expand_bvec(s, &first, nfolios, b, &format!("op[{i}].bvecs[{j}]"))?;
        }
    }
    for (p, is_start) in out.positions_mut() {
        let Some(&(start, n, fb)) = map.segs.get(p.seg as usize) else {
            continue;
        };
        if n == 1 {
            p.seg = start;
            continue;
        }
        let (mut j, mut off) = (p.off / fb, p.off % fb);
        // A range ends at the end of its last folio, not at the start of
        // the next; the run's end is the end of its last segment.
        if j > 0 && off == 0 && (!is_start || j == n as u64) {
            j -= 1;
            off = fb;
        }
        *p = Pos {
            seg: start + j as u32,
            off,
        };
    }
    Ok(out)
}

/// A bvec of the counted form moved to the expanded folios: a counted
/// entry's folio is the one of the run its offset lies in.
fn expand_bvec(
    s: &Scenario,
    first: &[u32],
    nfolios: u32,
    b: &mut super::format::KbufBvec,
    field: &str,
) -> Result<(), RunError> {
    let Some(f) = s.folios.get(b.folio as usize) else {
        // Left for the builder, which names the missing folio.
        b.folio = nfolios + (b.folio - s.folios.len() as u32);
        return Ok(());
    };
    let f0 = first[b.folio as usize];
    if f.count == 1 {
        b.folio = f0;
        return Ok(());
    }
    let fb = folio_bytes(s, f, b.folio as usize)?;
    if b.off / fb >= f.count {
        return Err((
            format!("{field}.off"),
            format!(
                "offset {:#x} is past folio[{}], a run of {} folios of {fb:#x} bytes",
                b.off, b.folio, f.count
            ),
        ));
    }
    b.folio = f0 + (b.off / fb) as u32;
    b.off %= fb;
    Ok(())
}

/// `s` with every run of identical folios, each mapped whole by one
/// segment in a row and by nothing else, folded into one counted folio and
/// one segment. A run whose folding [`expand`] would not undo exactly
/// stays as it is.
pub fn fold(s: &Scenario) -> Scenario {
    let Ok(orig) = expand(s) else {
        return s.clone();
    };
    let mut cur = orig.clone();
    let mut k = 0;
    while k < cur.segments.len() {
        if let Some(c) = fold_at(&cur, k) {
            if expand(&c).as_ref() == Ok(&orig) {
                cur = c;
            }
        }
        k += 1;
    }
    cur
}

/// Folds the run that starts at segment `k`, if one does.
fn fold_at(s: &Scenario, k: usize) -> Option<Scenario> {
    let seg = &s.segments[k];
    let f0 = seg.folio?;
    let plain = |g: &Segment| g.first == 0 && g.pages.is_none() && g.count == 1;
    let spec = s.folios.get(f0 as usize)?;
    if spec.count != 1 || !plain(seg) {
        return None;
    }
    let mut n = 1;
    while let Some(g) = s.segments.get(k + n) {
        let same = g.folio == Some(f0 + n as u32)
            && plain(g)
            && g.readonly == seg.readonly
            && g.aligned == seg.aligned
            && s.folios.get((f0 + n as u32) as usize) == Some(spec);
        if !same {
            break;
        }
        n += 1;
    }
    if n < 2 {
        return None;
    }
    let run = f0..f0 + n as u32;
    // Nothing else may map a folio of the run.
    let elsewhere = s
        .segments
        .iter()
        .enumerate()
        .any(|(i, g)| (i < k || i >= k + n) && g.folio.is_some_and(|f| run.contains(&f)));
    if elsewhere {
        return None;
    }
    let fb = folio_bytes(s, spec, f0 as usize).ok()?;
    let mut c = s.clone();
    c.folios.splice(
        run.start as usize..run.end as usize,
        [FolioSpec {
            count: n as u64,
            ..spec.clone()
        }],
    );
    c.segments.drain(k + 1..k + n);
    for g in c.segments.iter_mut() {
        if let Some(f) = g.folio.as_mut() {
            if *f >= run.end {
                *f -= n as u32 - 1;
            }
        }
    }
    for b in super::kbuf::bvecs_mut(&mut c) {
        if run.contains(&b.folio) {
            b.off += (b.folio - run.start) as u64 * fb;
            b.folio = run.start;
        } else if b.folio >= run.end {
            b.folio -= n as u32 - 1;
        }
    }
    for (p, _) in c.positions_mut() {
        let seg = p.seg as usize;
        if seg >= k && seg < k + n {
            p.off += (seg - k) as u64 * fb;
            p.seg = k as u32;
        } else if seg >= k + n {
            p.seg -= n as u32 - 1;
        }
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::check;
    use crate::variants::by_name;

    /// 512 small pages mapped in order, a buffer over all but the first
    /// and last 100 bytes, and an import across the middle.
    fn counted() -> &'static str {
        r#"format = 1
geometry = "real"

[[folio]]
kind = "small"
count = 512

[[segment]]
folio = 0

[[op]]
op = "register"
iovecs = [{ kind = "range", start = { seg = 0, off = 100 }, end = { seg = 0, off = 2097052 } }]

[[op]]
op = "import"
slot = 0
ddir = "read"
span = { start = { seg = 0, off = 4096 }, end = { seg = 0, off = 1048576 } }
"#
    }

    fn expanded() -> String {
        let mut t = String::from("format = 1\ngeometry = \"real\"\n");
        for _ in 0..512 {
            t.push_str("\n[[folio]]\nkind = \"small\"\n");
        }
        for i in 0..512 {
            t.push_str(&format!("\n[[segment]]\nfolio = {i}\n"));
        }
        t.push_str(concat!(
            "\n[[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 100 }, ",
            "end = { seg = 511, off = 3996 } }]\n",
            "\n[[op]]\nop = \"import\"\nslot = 0\nddir = \"read\"\n",
            "span = { start = { seg = 1, off = 0 }, end = { seg = 255, off = 4096 } }\n"
        ));
        t
    }

    #[test]
    fn a_counted_run_reads_as_its_expanded_form_and_gives_the_same_verdicts() {
        let a = Scenario::from_toml(counted()).unwrap();
        let b = Scenario::from_toml(&expanded()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.folios.len(), 512);
        assert_eq!(a.segments.len(), 512);
        for v in ["rfc-v1", "v7.2"] {
            let v = by_name(v).unwrap();
            let up = by_name("upstream").unwrap();
            let (va, _, _) = check(&a, v, up).unwrap();
            let (vb, _, _) = check(&b, v, up).unwrap();
            assert_eq!(va.signatures(), vb.signatures());
        }
    }

    #[test]
    fn writing_folds_the_run_back() {
        let s = Scenario::from_toml(&expanded()).unwrap();
        let text = s.to_toml();
        assert!(text.contains("count = 512"), "{text}");
        assert_eq!(text.matches("[[folio]]").count(), 1);
        assert_eq!(text.matches("[[segment]]").count(), 1);
        assert!(text.len() * 10 < expanded().len(), "{} bytes", text.len());
        assert_eq!(Scenario::from_toml(&text).unwrap(), s);
    }

    #[test]
    fn a_segment_over_part_of_a_run_is_refused_by_name() {
        let t = counted().replace("folio = 0\n", "folio = 0\nfirst = 3\n");
        let e = Scenario::from_toml(&t).unwrap_err();
        assert!(
            e.starts_with("field `segment[0]`: maps folio[0], a run of 512"),
            "{e}"
        );
        let t = counted().replace("count = 512", "count = 0");
        let e = Scenario::from_toml(&t).unwrap_err();
        assert!(
            e.starts_with("field `folio[0].count`: must be at least 1"),
            "{e}"
        );
    }

    #[test]
    fn a_folio_another_segment_maps_too_is_not_folded() {
        let mut t = expanded().replacen("\n[[op]]", "\n[[segment]]\nfolio = 7\n\n[[op]]", 1);
        t = t.replace(
            "end = { seg = 511, off = 3996 }",
            "end = { seg = 512, off = 10 }",
        );
        let s = Scenario::from_toml(&t).unwrap();
        let back = Scenario::from_toml(&s.to_toml()).unwrap();
        assert_eq!(back, s);
        assert!(!s.to_toml().contains("count = 512"));
    }
}
