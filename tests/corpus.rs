//! The corpus as a regression suite: one named trial per file under
//! `corpus/` (the name is its path relative to that directory), failing on
//! any change of verdict against the file's `expect` table.
//!
//! Custom harness (libtest-mimic) so each file is its own trial that can be
//! filtered by name: `cargo test --test corpus -- rfc-v1/aliased`. With no
//! corpus files it runs 0 trials and passes. `REGBUF_CORPUS_DIR` points it
//! at another directory (used to test this harness itself).

use libtest_mimic::{Arguments, Failed, Trial};
use regbuf_fuzz::corpus::{files, replay_file};
use regbuf_fuzz::report::{finding_summary, replay_command};
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("REGBUF_CORPUS_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
    }
}

fn trial(path: &Path) -> Result<(), Failed> {
    let results = replay_file(path, &[]).map_err(|e| format!("{e}"))?;
    let mut msg = String::new();
    for r in results.iter().filter(|r| !r.matches()) {
        let _ = writeln!(msg, "{}: verdict of {} changed", path.display(), r.variant);
        let _ = writeln!(msg, "  expected: {:?}", r.expected);
        let _ = writeln!(msg, "  got:      {:?}", r.got);
        for f in &r.verdict.findings {
            let _ = writeln!(msg, "    {}", finding_summary(f));
        }
        let _ = writeln!(
            msg,
            "  replay: {}",
            replay_command(Some(path), &r.variant, "upstream")
        );
    }
    if msg.is_empty() {
        Ok(())
    } else {
        let _ = write!(
            msg,
            "  (if the change is intended, set the file's `expect` lists to the `got` ones above)"
        );
        Err(msg.into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let dir = corpus_dir();
    let paths = if dir.exists() {
        match files(&dir) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("corpus: {e}");
                std::process::exit(101);
            }
        }
    } else {
        Vec::new()
    };
    let trials = paths
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(&dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            Trial::test(name, move || trial(&p))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
