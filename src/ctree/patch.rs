//! Patches as posted, applied to the tree's files: GNU patch first (with
//! `-l` and the most fuzz it allows), and for a copy whose whitespace an
//! archive ate (context lines without their leading space, blank lines
//! gone, runs of tabs made one space) a reading by content: each hunk's
//! context and removed lines are found in the file, whitespace ignored,
//! nearest to where the hunk says, and replaced. A hunk that fits nowhere
//! is an error that names it.

use super::build::{io_err, scratch_dir, FILES};
use super::TreeError;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The per-file sections of a diff: `(path without a/ b/, text)`.
fn sections(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut starts = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with("+++ ")) {
            starts.push(i);
        }
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(lines.len());
        let path = lines[s + 1][4..]
            .split(['\t', '\n'])
            .next()
            .unwrap_or("")
            .trim();
        let path = path.strip_prefix("b/").unwrap_or(path).to_string();
        // Stop a section at the next file's `diff --git` header or a mail signature.
        let mut body = String::new();
        for l in &lines[s..end] {
            // "--" alone: the signature delimiter of a copy that lost its
            // trailing space with the rest of its whitespace.
            if l.starts_with("diff --git ") || *l == "-- \n" || *l == "--\n" {
                break;
            }
            body.push_str(l);
        }
        out.push((path, body));
    }
    out
}

/// Applies `patch` to the read files; sections for other files are listed
/// in `ignored`.
pub fn apply_patch(
    files: &mut BTreeMap<&'static str, String>,
    patch: &Path,
    ignored: &mut Vec<String>,
) -> Result<(), TreeError> {
    let text = std::fs::read_to_string(patch).map_err(|e| TreeError::Patch {
        patch: patch.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })?;
    let secs = sections(&text);
    if secs.is_empty() {
        return Err(TreeError::Patch {
            patch: patch.to_path_buf(),
            reason: "no diff in it (no '--- a/FILE' / '+++ b/FILE' pair)".into(),
        });
    }
    let scratch = scratch_dir()?;
    for (path, body) in secs {
        let Some(&key) = FILES.iter().find(|f| **f == path) else {
            ignored.push(path);
            continue;
        };
        let target = scratch.join("file");
        std::fs::write(&target, &files[key]).map_err(io_err(&scratch))?;
        let diff = scratch.join("section.diff");
        std::fs::write(&diff, &body).map_err(io_err(&scratch))?;
        // -l: a mail copy may have lost its tabs; -F3: the most fuzz GNU patch allows.
        let out = Command::new("patch")
            .args(["-l", "-F3", "-N", "--no-backup-if-mismatch", "-r", "-"])
            .arg(&target)
            .arg(&diff)
            .output()
            .map_err(|e| TreeError::Tool {
                tool: "patch".into(),
                reason: format!("cannot run GNU patch: {e}"),
            })?;
        if out.status.success() {
            let new = std::fs::read_to_string(&target).map_err(io_err(&scratch))?;
            files.insert(key, new);
            continue;
        }
        let msg = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        // A copy whose whitespace is gone (an archive's) is beyond GNU
        // patch; it is applied by content, ignoring whitespace, or not.
        match apply_damaged(&files[key], &body) {
            Ok(new) => {
                files.insert(key, new);
            }
            Err(why) => {
                let hunks: Vec<&str> = msg.lines().filter(|l| l.contains("FAILED")).collect();
                let gnu = if hunks.is_empty() {
                    msg.lines()
                        .filter(|l| !l.starts_with("patching file"))
                        .collect::<Vec<_>>()
                        .join("; ")
                } else {
                    hunks.join("; ")
                };
                return Err(TreeError::Patch {
                    patch: patch.to_path_buf(),
                    reason: format!("{path}: {}; read ignoring whitespace: {why}", gnu.trim()),
                });
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// One line of a hunk.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    Context(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// A hunk: the old side's first line (1-based) and its lines.
#[derive(Debug)]
struct Hunk<'a> {
    old_start: usize,
    lines: Vec<Line<'a>>,
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hunks(section: &str) -> Result<Vec<Hunk<'_>>, String> {
    let mut out: Vec<Hunk> = Vec::new();
    for l in section.lines() {
        if let Some(rest) = l.strip_prefix("@@ -") {
            let start = rest
                .split([',', ' '])
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("hunk #{}: bad header {l:?}", out.len() + 1))?;
            out.push(Hunk {
                old_start: start,
                lines: vec![],
            });
            continue;
        }
        let Some(h) = out.last_mut() else { continue };
        if l.starts_with("\\ ") {
            continue;
        }
        h.lines.push(match l.as_bytes().first() {
            Some(b'+') => Line::Added(&l[1..]),
            Some(b'-') => Line::Removed(&l[1..]),
            Some(b' ') => Line::Context(&l[1..]),
            // A context line that lost its leading space.
            _ => Line::Context(l),
        });
    }
    if out.is_empty() {
        return Err("no hunk in it".into());
    }
    Ok(out)
}

/// Applies a section whose whitespace may be damaged to `file`.
pub fn apply_damaged(file: &str, section: &str) -> Result<String, String> {
    let mut lines: Vec<String> = file.lines().map(str::to_string).collect();
    let mut delta: i64 = 0;
    for (k, h) in hunks(section)?.iter().enumerate() {
        let n = k + 1;
        // What the old side must hold, blank lines aside (they may be gone).
        let old: Vec<String> = h
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Context(t) | Line::Removed(t) => Some(norm(t)),
                Line::Added(_) => None,
            })
            .filter(|t| !t.is_empty())
            .collect();
        if old.is_empty() {
            return Err(format!("hunk #{n} has no context to place it by"));
        }
        let text: Vec<(usize, String)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i, norm(l)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        let want = (h.old_start as i64 - 1 + delta).max(0) as usize;
        let at = (0..text.len().saturating_sub(old.len() - 1))
            .filter(|&p| old.iter().enumerate().all(|(j, t)| text[p + j].1 == *t))
            .min_by_key(|&p| text[p].0.abs_diff(want))
            .ok_or_else(|| {
                format!(
                    "hunk #{n} (at line {}): its context and removed lines are nowhere in the file",
                    h.old_start
                )
            })?;
        let matched: Vec<usize> = (0..old.len()).map(|j| text[at + j].0).collect();
        let (first, last) = (matched[0], *matched.last().expect("not empty"));
        let mut out: Vec<String> = Vec::new();
        let mut j = 0;
        let mut cursor = first;
        let mut prev_removed = false;
        for l in &h.lines {
            match l {
                Line::Added(t) => out.push(t.to_string()),
                Line::Context(t) | Line::Removed(t) if norm(t).is_empty() => {}
                Line::Context(_) | Line::Removed(_) => {
                    let removed = matches!(l, Line::Removed(_));
                    // The file's blank lines up to here stay, unless they
                    // lie between two removed lines.
                    if !(removed && prev_removed) {
                        out.extend(lines[cursor..matched[j]].iter().cloned());
                    }
                    if !removed {
                        out.push(lines[matched[j]].clone());
                    }
                    cursor = matched[j] + 1;
                    prev_removed = removed;
                    j += 1;
                }
            }
        }
        let removed_len = last + 1 - first;
        delta += out.len() as i64 - removed_len as i64;
        lines.splice(first..=last, out);
    }
    let mut s = lines.join("\n");
    if file.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "int f(void)\n{\n\tint a;\n\n\ta = 1;\n\treturn a;\n}\n";

    #[test]
    fn a_copy_without_its_whitespace_applies_by_content() {
        // Context lines lost their space, the blank line is gone, tabs too.
        let damaged =
            "@@ -1,6 +1,7 @@\nint f(void)\n{\n- int a;\n+ long a;\na = 1;\n+ a++;\nreturn a;\n";
        let got = apply_damaged(FILE, damaged).unwrap();
        assert_eq!(
            got,
            "int f(void)\n{\n long a;\n\n\ta = 1;\n a++;\n\treturn a;\n}\n"
        );
    }

    #[test]
    fn a_hunk_that_fits_nowhere_is_named() {
        let damaged = "@@ -1,3 +1,3 @@\nint f(void)\n- int b;\n+ long b;\n";
        let e = apply_damaged(FILE, damaged).unwrap_err();
        assert!(e.contains("hunk #1 (at line 1)"), "{e}");
    }

    #[test]
    fn of_two_places_the_nearest_to_the_header_is_taken() {
        let file = "x;\ny;\nz;\nx;\ny;\n";
        let got = apply_damaged(file, "@@ -4,2 +4,2 @@\nx;\n-y;\n+w;\n").unwrap();
        assert_eq!(got, "x;\ny;\nz;\nx;\nw;\n");
    }
}
