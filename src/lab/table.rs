//! The lab's result: one cell per file and kernel, the report written
//! to `lab.json`, and the table printed.

#[allow(unused_imports)]
use super::*;

/// One cell of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// Corpus file (or the smoke test's name).
    pub file: String,
    /// Kernel.
    pub kernel: String,
    /// What the kernel did.
    pub outcome: Outcome,
    /// What the model says.
    pub model: Prediction,
    /// Whether they agree (`null`: skipped or trouble, not judged).
    pub agree: Option<bool>,
    /// Quoted lines.
    pub evidence: Vec<String>,
    /// Kinds of kernel message.
    pub alarms: Vec<String>,
    /// Exit status inside the VM.
    pub exit: Option<i32>,
    /// Seconds inside the VM.
    pub seconds: Option<f64>,
}

/// The whole result, as written to `lab.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Kernel source.
    pub source: String,
    /// Kernels built.
    pub kernels: Vec<kernel::Built>,
    /// Their boots.
    pub boots: Vec<BootReport>,
    /// Every file × kernel.
    pub cells: Vec<Cell>,
    /// Cells where kernel and model disagree.
    pub disagreements: usize,
    /// Trouble met (cells in ERROR, boots that failed).
    pub trouble: Vec<String>,
    /// The exit status.
    pub exit: i32,
}

/// The table as text: one row per file, one column per kernel, each cell
/// `kernel/model`, then the evidence of every cell that is not a plain
/// PASS, and every disagreement again, loudly.
pub fn render(r: &Report, kernels: &[&str]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "kernel lab: {} under qemu (TCG); model: io_uring at 7.1-rc1 and its variants\n",
        r.source.split(" sha256:").next().unwrap_or(&r.source)
    ));
    for b in &r.kernels {
        s.push_str(&format!(
            "  {:<14} {} {}\n",
            b.name,
            if b.reused {
                "build reused".to_string()
            } else {
                format!(
                    "built in {:.0} s{}",
                    b.build_secs,
                    if b.seeded_from_base {
                        " (from base)"
                    } else {
                        ""
                    }
                )
            },
            b.cc
        ));
    }
    for b in &r.boots {
        s.push_str(&format!(
            "  {:<14} boot+run {:.0} s in {} boot(s){}\n",
            b.kernel,
            b.wall_secs,
            b.logs.len(),
            b.boot_secs
                .map(|x| format!(", init up after {x:.1} s"))
                .unwrap_or_default()
        ));
    }
    let files: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for c in &r.cells {
            if !v.contains(&c.file.as_str()) {
                v.push(&c.file);
            }
        }
        v
    };
    let short = |f: &str| -> String {
        Path::new(f)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.to_string())
    };
    let w = files
        .iter()
        .map(|f| short(f).len())
        .max()
        .unwrap_or(4)
        .max(4);
    s.push_str(&format!("\n{:<w$}", "file"));
    for k in kernels {
        s.push_str(&format!("  {:<22}", format!("{k} (kernel/model)")));
    }
    s.push('\n');
    for f in &files {
        s.push_str(&format!("{:<w$}", short(f)));
        for k in kernels {
            let cell = r.cells.iter().find(|c| c.file == *f && c.kernel == *k);
            let txt = match cell {
                Some(c) => format!(
                    "{}/{}{}",
                    c.outcome.name(),
                    c.model.expect,
                    match c.agree {
                        Some(true) => "",
                        Some(false) => " DISAGREE",
                        None => " ?",
                    }
                ),
                None => "-".into(),
            };
            s.push_str(&format!("  {txt:<22}"));
        }
        s.push('\n');
    }
    let mut ev = String::new();
    for c in &r.cells {
        if c.outcome == Outcome::Pass && c.agree != Some(false) {
            continue;
        }
        ev.push_str(&format!(
            "\n{} on {}: {} (exit {}, {}), model {} {}\n",
            short(&c.file),
            c.kernel,
            c.outcome.name(),
            c.exit.map_or("-".into(), |x| x.to_string()),
            c.seconds.map_or("-".into(), |x| format!("{x:.1} s")),
            c.model.variant,
            if c.model.signatures.is_empty() {
                "predicts no finding".to_string()
            } else {
                format!("predicts {}", c.model.signatures.join(", "))
            }
        ));
        for l in c.evidence.iter().take(14) {
            ev.push_str(&format!("    | {l}\n"));
        }
    }
    if !ev.is_empty() {
        s.push_str("\nevidence:");
        s.push_str(&ev);
    }
    for c in r.cells.iter().filter(|c| c.agree == Some(false)) {
        s.push_str(&format!(
            "\nDISAGREEMENT: {} on {}: the kernel says {}, the model ({}) says {}\n",
            short(&c.file),
            c.kernel,
            c.outcome.name(),
            c.model.variant,
            c.model.expect
        ));
    }
    for t in &r.trouble {
        s.push_str(&format!("\ntrouble: {t}\n"));
    }
    s.push_str(&format!(
        "\n{} cells, {} agree, {} disagree, {} not judged\n",
        r.cells.len(),
        r.cells.iter().filter(|c| c.agree == Some(true)).count(),
        r.disagreements,
        r.cells.iter().filter(|c| c.agree.is_none()).count()
    ));
    s
}
