//! Takes from a kernel C file the functions a set of roots reach, with every
//! declaration, macro and directive around them: the registration path's
//! code without the rest of the file (file tables, clones, kernel buffers'
//! registration), whose symbols the shim does not provide.
//!
//! The split is lexical, as a reader of kernel style would make it: an item
//! ends at a `;` or at the `}` that closes a function body, outside
//! comments, strings and parentheses; a preprocessor line is an item of its
//! own. A brace block is a function body when the text before it has a
//! parenthesis and no `=` (an initializer) at the top level.

use std::collections::{BTreeMap, BTreeSet};

/// One top-level item of a C file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Its text, comments included.
    pub text: String,
    /// The name of the function it defines, if it is a function definition.
    pub function: Option<String>,
    /// 1-based line of its first character.
    pub line: usize,
}

/// Splits `src` into top-level items. `Err` names the line where the text
/// stops being C this reading understands (unbalanced braces, an
/// unterminated comment).
pub fn items(src: &str) -> Result<Vec<Item>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut i = 0usize;
    let mut depth = 0i32;
    let mut paren = 0i32;
    let mut at_line_start = true;
    let mut body: Option<bool> = None; // Some(is_function) once a top-level `{` opened
    let line_of = |pos: usize| src[..pos].matches('\n').count() + 1;
    let push = |out: &mut Vec<Item>, s: usize, e: usize, is_fn: bool| {
        let text = &src[s..e];
        if text.trim().is_empty() {
            return;
        }
        let lead = text.len() - text.trim_start().len();
        out.push(Item {
            text: text.to_string(),
            function: if is_fn { function_name(text) } else { None },
            line: line_of(s + lead),
        });
    };
    while i < b.len() {
        let c = b[i];
        if at_line_start && depth == 0 && paren == 0 && c == b'#' {
            // A directive: to the end of the line, with continuations.
            let mut j = i;
            while j < b.len() && b[j] != b'\n' {
                if b[j] == b'\\' && j + 1 < b.len() && b[j + 1] == b'\n' {
                    j += 2;
                    continue;
                }
                if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                    j = skip_block_comment(b, j)
                        .ok_or_else(|| format!("line {}: unterminated comment", line_of(j)))?;
                    continue;
                }
                j += 1;
            }
            if src[start..i].trim().is_empty() {
                push(&mut out, start, j, false);
                start = j;
            } else {
                // A directive inside an unfinished declaration: keep it there.
            }
            i = j;
            continue;
        }
        match c {
            b'\n' => {
                at_line_start = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(b, i)
                    .ok_or_else(|| format!("line {}: unterminated comment", line_of(i)))?;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                i = skip_quoted(b, i)
                    .ok_or_else(|| format!("line {}: unterminated literal", line_of(i)))?;
                at_line_start = false;
                continue;
            }
            b'(' => paren += 1,
            b')' => paren -= 1,
            b'{' => {
                if depth == 0 && paren == 0 {
                    body = Some(looks_like_function(&src[start..i]));
                }
                depth += 1;
            }
            b'}' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("line {}: unbalanced '}}'", line_of(i)));
                }
                if depth == 0 && paren == 0 && body == Some(true) {
                    push(&mut out, start, i + 1, true);
                    start = i + 1;
                    body = None;
                }
            }
            b';' if depth == 0 && paren == 0 => {
                push(&mut out, start, i + 1, false);
                start = i + 1;
                body = None;
            }
            _ => {}
        }
        at_line_start = false;
        i += 1;
    }
    if depth != 0 {
        return Err(format!(
            "end of file inside a brace block opened before line {}",
            line_of(start)
        ));
    }
    push(&mut out, start, b.len(), false);
    Ok(out)
}

fn skip_block_comment(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 2;
    while j + 1 < b.len() {
        if b[j] == b'*' && b[j + 1] == b'/' {
            return Some(j + 2);
        }
        j += 1;
    }
    None
}

fn skip_quoted(b: &[u8], i: usize) -> Option<usize> {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            c if c == q => return Some(j + 1),
            b'\n' => return None,
            _ => j += 1,
        }
    }
    None
}

/// The code of `text` with comments, strings and directives blanked.
fn code(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        if line_start && c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = skip_block_comment(b, i).unwrap_or(b.len());
            out.push(' ');
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'"' || c == b'\'' {
            i = skip_quoted(b, i).unwrap_or(b.len());
            out.push_str("\"\"");
            continue;
        }
        line_start = c == b'\n' || (line_start && (c == b' ' || c == b'\t'));
        out.push(c as char);
        i += 1;
    }
    out
}

fn looks_like_function(head: &str) -> bool {
    let c = code(head);
    let mut depth = 0;
    let (mut paren, mut eq) = (false, false);
    for ch in c.chars() {
        match ch {
            '(' => {
                depth += 1;
                paren = true;
            }
            ')' => depth -= 1,
            '=' if depth == 0 => eq = true,
            _ => {}
        }
    }
    paren && !eq
}

/// Identifiers of `text`'s code, in order.
pub fn identifiers(text: &str) -> Vec<String> {
    let c = code(text);
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in c.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            cur.push(ch);
        } else if !cur.is_empty() {
            if !cur.as_bytes()[0].is_ascii_digit() {
                out.push(std::mem::take(&mut cur));
            } else {
                cur.clear();
            }
        }
    }
    if !cur.is_empty() && !cur.as_bytes()[0].is_ascii_digit() {
        out.push(cur);
    }
    out
}

/// Attribute macros that take arguments and may come before a function's name.
fn is_attribute(id: &str) -> bool {
    id.starts_with("__attribute")
        || matches!(
            id,
            "__printf"
                | "__scanf"
                | "__must_hold"
                | "__acquires"
                | "__releases"
                | "__aligned"
                | "__section"
                | "__alloc_size"
                | "__cond_acquires"
                | "__diag_ignore"
        )
}

/// The name a function definition defines: the identifier before the first
/// top-level parenthesis that is not an attribute (`__printf(1, 2)`).
fn function_name(text: &str) -> Option<String> {
    let c = code(text);
    let head = &c[..c.find('{').unwrap_or(c.len())];
    let mut last_ident = String::new();
    let mut cur = String::new();
    let mut depth = 0;
    for ch in head.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            cur.push(ch);
            continue;
        }
        if !cur.is_empty() {
            last_ident = std::mem::take(&mut cur);
        }
        match ch {
            '(' => {
                if depth == 0 && !last_ident.is_empty() && !is_attribute(&last_ident) {
                    return Some(last_ident);
                }
                depth += 1;
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The functions of `files` that `roots` reach (roots included), by name.
pub fn reachable<'a>(
    files: impl IntoIterator<Item = &'a [Item]>,
    roots: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut defs: BTreeMap<&str, &Item> = BTreeMap::new();
    for items in files {
        for it in items {
            if let Some(f) = &it.function {
                defs.insert(f, it);
            }
        }
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = roots
        .iter()
        .filter(|r| defs.contains_key(r.as_str()))
        .cloned()
        .collect();
    while let Some(f) = todo.pop() {
        if !seen.insert(f.clone()) {
            continue;
        }
        for id in identifiers(&defs[f.as_str()].text) {
            if defs.contains_key(id.as_str()) && !seen.contains(&id) {
                todo.push(id);
            }
        }
    }
    seen
}

/// `items` with every function definition not in `keep` left out.
/// `file` names the source in `#line` directives, so that diagnostics and
/// sanitizer reports point into the tree's file.
pub fn keep_only(items: &[Item], keep: &BTreeSet<String>, file: &str) -> String {
    // A declaration naming a function left out (its prototype, a table of
    // pointers to it) goes with it.
    let dropped: BTreeSet<&str> = items
        .iter()
        .filter_map(|i| i.function.as_deref())
        .filter(|f| !keep.contains(*f))
        .collect();
    let mut out = String::new();
    for it in items {
        match &it.function {
            Some(f) if !keep.contains(f) => {}
            None if !it.text.trim_start().starts_with('#')
                && identifiers(&it.text)
                    .iter()
                    .any(|i| dropped.contains(i.as_str())) => {}
            _ => {
                out.push_str(&format!("\n#line {} \"{file}\"\n", it.line));
                out.push_str(it.text.trim_start_matches(['\n', ' ', '\t']));
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"// SPDX
#include <linux/kernel.h>
#define TWO(x) \
	((x) * 2)

struct s { int a; /* } */ };
static const struct s table = { .a = 1 };
static int helper(int x);

static int __helper(int x)
{
	return x;
}

static int helper(int x)
{
	const char *s = "}";
	return TWO(__helper(x)) + s[0];
}

__cold int __printf(1, 2) root(int y)
{
	if (y) { return helper(y); }
	return 0;
}

int unused(void)
{
	return root(1);
}
"#;

    #[test]
    fn splits_functions_declarations_and_directives() {
        let it = items(SRC).unwrap();
        let fns: Vec<_> = it.iter().filter_map(|i| i.function.clone()).collect();
        assert_eq!(fns, ["__helper", "helper", "root", "unused"]);
        assert!(it
            .iter()
            .any(|i| i.text.contains("#define TWO(x)") && i.text.contains("((x) * 2)")));
        assert!(it
            .iter()
            .any(|i| i.function.is_none() && i.text.contains("table = { .a = 1 }")));
        assert_eq!(
            it.iter()
                .find(|i| i.function.as_deref() == Some("root"))
                .unwrap()
                .line,
            21
        );
    }

    #[test]
    fn keeps_what_the_roots_reach() {
        let it = items(SRC).unwrap();
        let keep = reachable([it.as_slice()], &BTreeSet::from(["root".to_string()]));
        assert_eq!(
            keep,
            BTreeSet::from([
                "__helper".to_string(),
                "helper".to_string(),
                "root".to_string()
            ])
        );
        let out = keep_only(&it, &keep, "t.c");
        assert!(out.contains("root(int y)") && out.contains("helper(int x)\n{"));
        assert!(!out.contains("unused"));
        assert!(out.contains("static int helper(int x);"), "prototypes stay");
        let none = keep_only(&it, &BTreeSet::from(["root".to_string()]), "t.c");
        assert!(
            !none.contains("static int helper(int x);"),
            "a dropped function's prototype goes"
        );
    }

    #[test]
    fn reports_unbalanced_text_by_line() {
        let e = items("int f(void)\n{\n\treturn 0;\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        let e = items("int f(void) { }\n}\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
