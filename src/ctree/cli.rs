//! `--tree`/`--patch` on the command line: the variants they make, and the
//! `tree` subcommand that says what a tree gives.

use super::CVariant;
use crate::variants;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The variant name of the tree as it is.
pub const TREE: &str = "tree";
/// The variant name of the tree with the patches.
pub const TREE_PATCHED: &str = "tree+patch";

/// The Rust variant a tree is a version of.
fn twin(tree: &Path, model: Option<&str>) -> &'static dyn variants::Variant {
    let name = model.unwrap_or_else(|| {
        let rsrc = std::fs::read_to_string(tree.join("io_uring/rsrc.c")).unwrap_or_default();
        if rsrc.contains("hpage_acct_ref") {
            "v7.2"
        } else {
            "upstream"
        }
    });
    variants::by_name(name).expect("the model variant was checked by the parser")
}

static FLAGS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The `--tree`/`--patch` flags this process was given, for the commands a
/// report prints to reproduce a finding (empty without a tree).
pub fn flags() -> &'static str {
    FLAGS.get().map_or("", String::as_str)
}

/// Builds and registers `tree` and, with patches, `tree+patch`.
pub fn register(
    tree: &Path,
    patches: &[PathBuf],
    model: Option<&str>,
) -> Result<(), super::TreeError> {
    let q = |p: &Path| crate::report::shell_quote(&p.display().to_string());
    let mut f = format!(" --tree {}", q(tree));
    for p in patches {
        f.push_str(&format!(" --patch {}", q(p)));
    }
    if let Some(m) = model {
        f.push_str(&format!(" --tree-model {m}"));
    }
    let _ = FLAGS.set(f);
    let t = twin(tree, model);
    let base = CVariant::new(TREE, tree, &[], t)?;
    variants::register(Box::leak(Box::new(base)));
    if !patches.is_empty() {
        let p = CVariant::new(TREE_PATCHED, tree, patches, t)?;
        variants::register(Box::leak(Box::new(p)));
    }
    Ok(())
}

/// `regbuf-fuzz tree`: what the tree (and patches) gave.
pub fn check(tree: Option<&Path>, patches: &[PathBuf], out: &mut dyn Write) -> i32 {
    if tree.is_none() {
        eprintln!("regbuf-fuzz tree: give the tree with --tree DIR");
        return crate::cli::EXIT_TROUBLE;
    };
    let mut names = vec![TREE];
    if !patches.is_empty() {
        names.push(TREE_PATCHED);
    }
    for name in names {
        let v = variants::by_name(name).expect("registered before dispatch");
        let c = v.kernel_c().expect("a tree variant");
        let _ = writeln!(out, "{name}: {}", v.summary());
        let _ = writeln!(
            out,
            "  model: {} (its known bugs and accounting rule apply)",
            c.twin.name()
        );
        let _ = writeln!(
            out,
            "  functions taken ({}): {}",
            c.functions.len(),
            c.functions.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        if !c.source.ignored.is_empty() {
            let _ = writeln!(
                out,
                "  patched files not read: {}",
                c.source.ignored.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "  supported: yes (built for the real and the small geometry)"
        );
    }
    crate::cli::EXIT_CLEAN
}
