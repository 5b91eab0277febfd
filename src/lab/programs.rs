//! The programs of the initramfs: the corpus files the lab runs, each
//! one's C reproducer written by `regbuf-fuzz repro` and compiled
//! statically.

#[allow(unused_imports)]
use super::*;

/// One program in the initramfs.
#[derive(Clone, Debug)]
pub(super) struct Program {
    /// Name inside the VM (the file stem).
    pub(super) name: String,
    /// The corpus file, or `None` for the lab's smoke test.
    pub(super) file: Option<PathBuf>,
    /// The scenario.
    pub(super) scenario: Option<Scenario>,
    /// The static binary, or why there is none.
    pub(super) binary: Result<PathBuf, String>,
}

/// The name the smoke test runs under.
pub const SMOKE: &str = "lab-smoke-hugetlb";

pub(super) fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Trouble> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let files = crate::corpus::files(p).map_err(|e| Trouble(e.to_string()))?;
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(Trouble(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    Ok(out)
}

/// The `regbuf-fuzz` executable (for `repro`): `$REGBUF_FUZZ_BIN`, else
/// this executable when it is regbuf-fuzz, else the one cargo built next to
/// it.
pub(super) fn regbuf_fuzz_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("REGBUF_FUZZ_BIN") {
        return PathBuf::from(p);
    }
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("regbuf-fuzz"));
    if me.file_name().is_some_and(|n| n == "regbuf-fuzz") {
        return me;
    }
    // A test binary lives in target/<profile>/deps/.
    me.parent()
        .and_then(Path::parent)
        .map(|d| d.join("regbuf-fuzz"))
        .unwrap_or_else(|| PathBuf::from("regbuf-fuzz"))
}

/// Compiles a C file statically.
pub(super) fn compile(c: &Path, bin: &Path) -> Result<(), String> {
    let out = Command::new("gcc")
        .args(["-static", "-O1", "-g0", "-w", "-o"])
        .arg(bin)
        .arg(c)
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().take(12).collect();
        Err(format!(
            "gcc -static {} failed:\n{}",
            c.display(),
            tail.join("\n")
        ))
    }
}

/// Writes and compiles the reproducer of one corpus file.
pub(super) fn reproducer(file: &Path, dir: &Path, name: &str) -> Result<PathBuf, String> {
    let c = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    let out = Command::new(regbuf_fuzz_bin())
        .arg("repro")
        .arg(file)
        .arg("-o")
        .arg(&c)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("regbuf-fuzz repro: {e}"))?;
    if !c.exists() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(if err.contains("unrecognized subcommand") {
            "no reproducer: this build of regbuf-fuzz has no `repro` subcommand".to_string()
        } else {
            format!(
                "regbuf-fuzz repro {} wrote no program ({}): {}",
                file.display(),
                out.status,
                err.trim()
            )
        });
    }
    compile(&c, &bin)?;
    Ok(bin)
}
