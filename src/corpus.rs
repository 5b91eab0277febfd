//! Corpus files: loading a scenario from disk with errors a person can act
//! on, and replaying it against the verdicts it records.
//!
//! A corpus file is a scenario whose `expect` table says, for each variant
//! run against upstream, which finding signatures it shows. Replay fails on
//! any change, so a model or oracle change that alters a verdict is seen.
//! Every error names the file, the field (as `segment[1].folio`) and why.

use crate::oracle::{check, Verdict};
use crate::scenario::{build, Scenario, ScenarioError};
use crate::variants;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a corpus file cannot be loaded or replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorpusError {
    /// The file.
    pub file: PathBuf,
    /// Line and column (from 1) the problem was found at, when known.
    pub at: Option<(usize, usize)>,
    /// The field, as a path (`segment[1].folio`), when one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((l, c)) = self.at {
            write!(f, ":{l}:{c}")?;
        }
        match &self.field {
            Some(field) => write!(f, ": field `{field}`: {}", self.reason),
            None => write!(f, ": {}", self.reason),
        }
    }
}

impl std::error::Error for CorpusError {}

impl CorpusError {
    fn new(file: &Path, field: Option<String>, reason: impl Into<String>) -> Self {
        CorpusError {
            file: file.to_path_buf(),
            at: None,
            field,
            reason: reason.into(),
        }
    }
}

/// Reads and checks a scenario file: it must be UTF-8 TOML of the scenario
/// format and pass [`build`]. Errors name the file, the field and the reason.
pub fn load(path: &Path) -> Result<Scenario, CorpusError> {
    load_with_text(path).map(|(_, s)| s)
}

/// [`load`], also returning the file's text (for [`replay_scenario`] and
/// [`locate`]).
pub fn load_with_text(path: &Path) -> Result<(String, Scenario), CorpusError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CorpusError::new(path, None, format!("cannot read it: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        CorpusError::new(
            path,
            None,
            format!(
                "not a scenario file: not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    let s = parse(path, &text)?;
    Ok((text, s))
}

/// [`load`] on text already read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, CorpusError> {
    if let Err(e) = toml::from_str::<Scenario>(text) {
        return Err(toml_error(path, text, &e));
    }
    let s = Scenario::from_toml(text).map_err(|e| {
        // Checks after parsing say "field `x`: reason".
        let (field, reason) = split_field(&e);
        let at = field.as_deref().and_then(|f| locate(text, f));
        CorpusError {
            file: path.to_path_buf(),
            at,
            field,
            reason,
        }
    })?;
    build(&s).map_err(|e| scenario_error(path, text, &e))?;
    Ok(s)
}

/// A [`ScenarioError`] of `path` as a [`CorpusError`], with the line of the
/// field when it can be found in `text`.
pub fn scenario_error(path: &Path, text: &str, e: &ScenarioError) -> CorpusError {
    CorpusError {
        file: path.to_path_buf(),
        at: locate(text, &e.field),
        field: Some(e.field.clone()),
        reason: e.reason.clone(),
    }
}

fn split_field(msg: &str) -> (Option<String>, String) {
    if let Some(rest) = msg.strip_prefix("field `") {
        if let Some((field, reason)) = rest.split_once("`: ") {
            return (Some(field.to_string()), reason.to_string());
        }
    }
    (None, msg.to_string())
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> CorpusError {
    let msg = e
        .message()
        .trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(span) = e.span() else {
        return CorpusError::new(path, None, format!("not a valid scenario: {msg}"));
    };
    let start = span.start.min(text.len());
    let (mut line, mut col) = line_col(text, start);
    let table = table_at(text, line);
    let quoted = |prefix: &str| -> Option<String> {
        let rest = &msg[msg.find(prefix)? + prefix.len()..];
        Some(rest[..rest.find('`')?].to_string())
    };
    // A tagged table (an op, an iovec) is read whole, so the error points at
    // its start; a bad name inside it can still be found by its text.
    if let Some(bad) = quoted("unknown variant `") {
        let needle = format!("\"{bad}\"");
        let found = text
            .lines()
            .enumerate()
            .skip(line - 1)
            .take_while(|(i, l)| *i + 1 == line || header(l).is_none())
            .find(|(_, l)| l.contains(&needle));
        if let Some((i, l)) = found {
            line = i + 1;
            col = l.find(&needle).map_or(1, |c| l[..c].chars().count() + 1);
        }
    }
    let key = quoted("missing field `")
        .or_else(|| quoted("unknown field `"))
        .or_else(|| key_on_line(text, line, col));
    let field = match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (Some(t), None) => Some(t),
        (None, k) => k,
    };
    CorpusError {
        file: path.to_path_buf(),
        at: Some((line, col)),
        field,
        // serde's word for an enum's value; here a variant is a kernel version.
        reason: msg.replace("unknown variant `", "unknown value `"),
    }
}

/// 1-based line and column of byte `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A `[table]` or `[[array]]` header on this line: (name, is array).
fn header(line: &str) -> Option<(&str, bool)> {
    let l = line.split('#').next()?.trim();
    if let Some(inner) = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
        return Some((inner.trim(), true));
    }
    l.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .map(|n| (n.trim(), false))
}

/// The table (`segment[1]`, `faults`) that line `line` (from 1) is in.
fn table_at(text: &str, line: usize) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut cur = None;
    for l in text.lines().take(line) {
        if let Some((name, array)) = header(l) {
            cur = Some(if array {
                let n = counts.entry(name).or_default();
                *n += 1;
                format!("{name}[{}]", *n - 1)
            } else {
                name.to_string()
            });
        }
    }
    cur
}

/// The key of a `key = value` line, when the column is at or after it.
fn key_on_line(text: &str, line: usize, _col: usize) -> Option<String> {
    let l = text.lines().nth(line - 1)?;
    let (k, _) = l.split_once('=')?;
    let k = k.trim().trim_matches('"');
    (!k.is_empty() && !k.contains(['{', '[', ','])).then(|| k.to_string())
}

/// The line (and column 1) where `field` (`segment[1].folio`, `memlock`,
/// `op[0].iovecs[0].start.seg`) is written in `text`, as far as can be told.
pub fn locate(text: &str, field: &str) -> Option<(usize, usize)> {
    let mut parts = field.split('.');
    let first = parts.next()?;
    let next_key = parts.next().map(|k| k.split('[').next().unwrap_or(k));
    let lines: Vec<&str> = text.lines().collect();
    let key_line = |from: usize, key: &str| -> Option<usize> {
        for (i, l) in lines.iter().enumerate().skip(from) {
            if i > from && header(l).is_some() {
                return None;
            }
            let t = l.trim_start();
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return Some(i);
                }
            }
        }
        None
    };
    match first.split_once('[') {
        Some((name, idx)) => {
            let idx: usize = idx.trim_end_matches(']').parse().ok()?;
            let hdr = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| header(l) == Some((name, true)))
                .nth(idx)
                .map(|(i, _)| i)?;
            let at = next_key.and_then(|k| key_line(hdr, k)).unwrap_or(hdr);
            Some((at + 1, 1))
        }
        None => {
            if let Some(i) = lines.iter().position(|l| header(l) == Some((first, false))) {
                return Some((i + 1, 1));
            }
            key_line(0, first).map(|i| (i + 1, 1))
        }
    }
}

/// One variant of a corpus file, replayed.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// The variant (run against upstream; `upstream` itself: invariants only).
    pub variant: String,
    /// The signatures the file's `expect` table records, sorted.
    pub expected: Vec<String>,
    /// The signatures seen now, sorted.
    pub got: Vec<String>,
    /// The whole verdict, for reports.
    pub verdict: Verdict,
}

impl Replayed {
    /// Whether the verdict is the recorded one.
    pub fn matches(&self) -> bool {
        self.expected == self.got
    }
}

/// Replays `path` for the variants in `only` (all of its `expect` table when
/// empty), each against upstream, comparing `Verdict::signatures()` with
/// the expected list. A file without an `expect` table, or one naming an
/// unknown variant, is an error.
pub fn replay_file(path: &Path, only: &[&str]) -> Result<Vec<Replayed>, CorpusError> {
    let (text, s) = load_with_text(path)?;
    replay_scenario(path, &text, &s, only)
}

/// [`replay_file`] on a scenario already loaded from `path` (`text` is used
/// only to point at lines in errors).
pub fn replay_scenario(
    path: &Path,
    text: &str,
    s: &Scenario,
    only: &[&str],
) -> Result<Vec<Replayed>, CorpusError> {
    if s.expect.is_empty() {
        return Err(CorpusError {
            file: path.to_path_buf(),
            at: None,
            field: Some("expect".into()),
            reason: format!(
                "the file has no `expect` table, so there is nothing to compare with; add one (`regbuf-fuzz minimize` writes it) \
                 or name the variants to run with --variant (known: {})",
                variants::names().join(", ")
            ),
        });
    }
    let upstream = variants::by_name("upstream").expect("upstream is always a variant");
    for name in only {
        if !s.expect.contains_key(*name) {
            return Err(CorpusError {
                file: path.to_path_buf(),
                at: locate(text, "expect"),
                field: Some("expect".into()),
                reason: format!(
                    "no expected verdict for variant `{name}` (the table has: {})",
                    keys(s)
                ),
            });
        }
    }
    let mut out = Vec::new();
    for (name, expected) in &s.expect {
        if !only.is_empty() && !only.contains(&name.as_str()) {
            continue;
        }
        let Some(v) = variants::by_name(name) else {
            return Err(CorpusError {
                file: path.to_path_buf(),
                at: locate(text, "expect"),
                field: Some(format!("expect.{name}")),
                reason: format!(
                    "unknown variant `{name}`; known: {}",
                    variants::names().join(", ")
                ),
            });
        };
        let (verdict, _, _) = check(s, v, upstream).map_err(|e| scenario_error(path, text, &e))?;
        let mut expected = expected.clone();
        expected.sort();
        expected.dedup();
        out.push(Replayed {
            variant: name.clone(),
            expected,
            got: verdict.signatures().into_iter().collect(),
            verdict,
        });
    }
    Ok(out)
}

fn keys(s: &Scenario) -> String {
    s.expect.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Every `*.toml` file under `dir`, recursively, sorted; hidden entries
/// (names starting with `.`) are skipped and symbolic links to directories
/// are not followed. A `dir` that is a file is returned alone.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let mut out = Vec::new();
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    walk(dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CorpusError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| CorpusError::new(dir, None, format!("cannot list the directory: {e}")))?;
    for entry in rd {
        let entry = entry
            .map_err(|e| CorpusError::new(dir, None, format!("cannot list the directory: {e}")))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let ty = entry
            .file_type()
            .map_err(|e| CorpusError::new(&path, None, format!("cannot stat: {e}")))?;
        if ty.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "toml") && (ty.is_file() || path.is_file())
        {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIASED: &str = "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n\
        [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 2097152 } }]\n";

    fn tmp(name: &str, text: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("regbuf-corpus-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn malformed_toml_names_file_line_and_reason() {
        let p = tmp(
            "malformed.toml",
            b"format = 1\ngeometry = \"real\"\n[[segment]]\nfolio = = 0\n",
        );
        let e = load(&p).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("malformed.toml"), "{m}");
        assert_eq!(e.at.map(|a| a.0), Some(4), "{m}");
        assert_eq!(e.field.as_deref(), Some("segment[0].folio"), "{m}");
        assert!(e.reason.contains("expected"), "{m}");
        assert!(!m.contains('\n'), "one line: {m}");
    }

    #[test]
    fn a_bad_name_inside_a_tagged_table_is_found_by_its_text() {
        let text = "format = 1\ngeometry = \"real\"\n[[op]]\nop = \"import\"\nslot = 0\nddir = \"sideways\"\n\
                    span = { start = { seg = 0, off = 0 }, end = { seg = 0, off = 1 } }\n";
        let p = tmp("sideways.toml", text.as_bytes());
        let e = load(&p).unwrap_err();
        assert_eq!(
            (e.at, e.field.as_deref()),
            (Some((6, 8)), Some("op[0].ddir")),
            "{e}"
        );
        assert!(e.reason.contains("unknown value `sideways`"), "{e}");
        assert!(
            !e.reason.contains("variant"),
            "a variant is a kernel version here: {e}"
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_its_table() {
        let text = ALIASED.replace(
            "[[segment]]\nfolio = 0\n[[op]]",
            "[[segment]]\nfolio = 0\nfoliage = 3\n[[op]]",
        );
        let p = tmp("unknown.toml", text.as_bytes());
        let e = load(&p).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("unknown.toml"), "{m}");
        assert_eq!(e.field.as_deref(), Some("segment[1].foliage"), "{m}");
        assert!(e.reason.contains("unknown field"), "{m}");
    }

    #[test]
    fn a_missing_folio_is_a_build_error_with_the_field() {
        let text = ALIASED.replace(
            "[[segment]]\nfolio = 0\n[[op]]",
            "[[segment]]\nfolio = 5\n[[op]]",
        );
        let p = tmp("missing-folio.toml", text.as_bytes());
        let e = load(&p).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("missing-folio.toml"), "{m}");
        assert!(m.contains("segment[1].folio"), "{m}");
        assert!(m.contains("folio 5 does not exist"), "{m}");
        assert_eq!(e.at, Some((8, 1)), "{m}");
    }

    #[test]
    fn a_missing_field_and_a_bad_version_are_named() {
        let p = tmp("nogeo.toml", b"format = 1\n");
        let e = load(&p).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("geometry"), "{e}");
        let p = tmp("v9.toml", b"format = 9\ngeometry = \"real\"\n");
        let e = load(&p).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("format"), "{e}");
        assert_eq!(e.at, Some((1, 1)), "{e}");
    }

    #[test]
    fn garbage_bytes_are_an_error_not_a_panic() {
        let p = tmp("garbage.toml", &[0xff, 0xfe, 0x00, 0x9c, 0x12]);
        let e = load(&p).unwrap_err();
        assert!(
            e.to_string().contains("garbage.toml: not a scenario file"),
            "{e}"
        );
        let e = load(&p.with_file_name("absent.toml")).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn replay_compares_with_the_expect_table() {
        let p = tmp("noexpect.toml", ALIASED.as_bytes());
        let e = replay_file(&p, &[]).unwrap_err();
        assert!(e.to_string().contains("no `expect` table"), "{e}");

        let text = format!(
            "{ALIASED}[expect]\nupstream = []\nrfc-v1 = [\"rfc-v1:diff:coverage\", \"rfc-v1:invariant:coverage\", \"rfc-v1:invariant:import\"]\n"
        );
        let p = tmp("aliased.toml", text.as_bytes());
        let r = replay_file(&p, &[]).unwrap();
        assert_eq!(r.len(), 2);
        let rfc = r.iter().find(|x| x.variant == "rfc-v1").unwrap();
        assert!(
            rfc.got
                .contains(&"rfc-v1:invariant:coverage/length".to_string()),
            "{:?}",
            rfc.got
        );
        let up = r.iter().find(|x| x.variant == "upstream").unwrap();
        assert!(up.matches() && up.got.is_empty());
        let only = replay_file(&p, &["upstream"]).unwrap();
        assert_eq!(only.len(), 1);
        assert!(replay_file(&p, &["nope"]).is_err());

        let bad = tmp(
            "badvariant.toml",
            format!("{ALIASED}[expect]\nrfc-v9 = []\n").as_bytes(),
        );
        let e = replay_file(&bad, &[]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("expect.rfc-v9"), "{e}");
        assert!(e.reason.contains("rfc-v1"), "{e}");
    }

    #[test]
    fn files_are_found_recursively_and_sorted() {
        let root = std::env::temp_dir().join(format!("regbuf-corpus-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for f in [
            "b/c/z.toml",
            "a.toml",
            "b/x.toml",
            "b/readme.md",
            ".hidden/h.toml",
        ] {
            std::fs::write(root.join(f), "").unwrap();
        }
        let got: Vec<String> = files(&root)
            .unwrap()
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(got, vec!["a.toml", "b/c/z.toml", "b/x.toml"]);
        assert!(files(&root.join("absent")).is_err());
    }
}
