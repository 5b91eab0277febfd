//! The `regbuf-fuzz` command line: argument parsing (clap) and dispatch.
//!
//! Exit codes follow diff(1) so scripts and CI can tell a finding from a
//! broken invocation: 0 no finding, 1 a finding, 2 trouble (bad flags, an
//! unreadable or malformed file, an internal error). Nothing here panics on
//! bad input; a panic inside the model is caught and reported as trouble.

mod commands;
mod replay;

use crate::variants;
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// Exit code: nothing found.
pub const EXIT_CLEAN: i32 = 0;
/// Exit code: at least one finding.
pub const EXIT_FINDING: i32 = 1;
/// Exit code: trouble (bad flags, a file that cannot be read or built).
pub const EXIT_TROUBLE: i32 = 2;

const EXIT_HELP: &str = "\
Exit status (as diff(1)): 0 no finding, 1 at least one finding, 2 trouble
(bad flags, an unknown variant, a file that cannot be read, parsed or built;
the message names the file, the field and the reason).";

/// Differential fuzzer for the io_uring fixed-buffer registration path
/// (IORING_REGISTER_BUFFERS): runs a model of io_uring/rsrc.c as upstream
/// 7.1-rc1 and as patched variants on the same scenario, and reports broken
/// invariants and differences.
#[derive(Debug, Parser)]
#[command(name = "regbuf-fuzz", version, after_help = EXIT_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay scenario files (or directories of them) and report findings.
    #[command(after_help = REPLAY_HELP)]
    Replay(ReplayArgs),
    /// Shrink a scenario to what its finding needs, and write it with its
    /// `expect` table filled in.
    #[command(after_help = MINIMIZE_HELP)]
    Minimize(MinimizeArgs),
    /// Draw a scenario for a reviewer: layout, bvecs of each side, pins,
    /// findings with the rules they break.
    #[command(after_help = "Exit status: 1 if the variant shows a finding, 0 if not, 2 trouble.")]
    Explain(ExplainArgs),
    /// List the variants and the invariants.
    List,
    /// Run a fuzzing campaign of one variant against another.
    Fuzz(FuzzCmd),
    /// Hold the upstream model against the running kernel (root; reserves
    /// huge pages and gives them back).
    #[command(
        after_help = "Exit status: 0 every judged scenario agrees, 1 a model-fidelity finding, 2 trouble, 77 skipped (not root, no io_uring, no huge pages)."
    )]
    Live(LiveCmd),
    /// Time IORING_REGISTER_BUFFERS and IORING_UNREGISTER_BUFFERS of one
    /// 2 MiB hugetlb buffer on the running kernel (root).
    LiveBench {
        /// Register + unregister pairs to time.
        #[arg(long, value_name = "N", default_value_t = 20000)]
        rounds: u64,
    },
    /// Turn a libFuzzer crash artifact into a minimized corpus file.
    #[command(
        after_help = "Exit status: 1 the artifact shows a finding (file written), 0 it shows none, 2 trouble."
    )]
    ImportArtifact(ImportArtifactArgs),
    /// Write seed inputs for the byte-driven cargo-fuzz targets
    /// (differential, fault_injection): one per distinct finding of every
    /// variant among a campaign seed's first draws.
    #[command(after_help = SEED_CORPUS_HELP)]
    SeedCorpus(SeedCorpusArgs),
}

const SEED_CORPUS_HELP: &str = "\
The targets read generator bytes, not TOML, so corpus files cannot seed
them. Each file written here holds the bytes of the first draw of --seed
whose primary finding for a variant (against upstream) is new, and is named
`<variant>--<finding>`, like that finding's corpus file. Against upstream or
a fixed variant they show nothing; they start libFuzzer next to the layouts
each bug needs. Files already in DIR are overwritten, never removed.

Exit status: 0 written, 2 trouble.";

/// Flags of `seed-corpus`.
#[derive(Debug, Args)]
pub struct SeedCorpusArgs {
    /// Directory to write the inputs into (created if missing).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Campaign seed to draw from.
    #[arg(long, value_name = "N", default_value_t = crate::targets::seeds::DEFAULT_SEED)]
    pub seed: u64,
    /// Draws to look at.
    #[arg(long, value_name = "N", default_value_t = crate::targets::seeds::DEFAULT_RUNS)]
    pub runs: u64,
}

/// Flags of `live`.
#[derive(Debug, Args)]
pub struct LiveCmd {
    /// Scenarios to draw.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub count: u64,
    /// Seed of the draws.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Where scenarios the kernel and the model disagree on are written.
    #[arg(long, value_name = "DIR", default_value = "live-findings")]
    pub out: PathBuf,
}

/// Flags of `import-artifact`.
#[derive(Debug, Args)]
pub struct ImportArtifactArgs {
    /// The artifact (`fuzz/artifacts/<target>/crash-…`).
    #[arg(value_name = "ARTIFACT")]
    pub artifact: PathBuf,
    /// The cargo-fuzz target that wrote it.
    #[arg(long, value_name = "TARGET", default_value = "differential", value_parser = ["differential", "fault_injection"])]
    pub target: String,
    /// The variant the target ran (`$REGBUF_VARIANT`; default: rfc-v1 for
    /// differential, upstream for fault_injection).
    #[arg(long, value_name = "V", value_parser = variant_name)]
    pub variant: Option<String>,
    /// What it was compared with (`$REGBUF_AGAINST`; differential only).
    #[arg(long, value_name = "V", default_value = "upstream", value_parser = variant_name)]
    pub against: String,
    /// Output file, or a directory to write `<variant>--<finding>.toml` into.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: PathBuf,
}

const REPLAY_HELP: &str = "\
Without --variant, each file's `expect` table says which variants to run
(each against upstream; `upstream` itself: its invariants only), and each is
reported as \"matches expected\" or \"DIFFERS from expected\". A file without
an `expect` table is trouble. With --variant, the named variants run against
--against, whatever the file expects.

Exit status: 1 if any replayed variant shows any finding (expected or not),
2 if any file cannot be replayed (this wins over 1), 0 otherwise. A changed
verdict alone does not change the status: `cargo test --test corpus` is the
check that fails on one.";

const MINIMIZE_HELP: &str = "\
Keeps the variant's primary finding (the first signature of its verdict)
while dropping operations, iovecs, fault points, segments and folios and
simplifying what is left; then moves the result to real geometry if the
finding is the same there, and fills `expect` for every variant (each
against upstream). Sizes before and after go to standard error when the
scenario goes to standard output, to standard output with -o.

Exit status: 1 the minimized scenario keeps its finding; 0 the file shows
no finding for that variant (nothing written); 2 trouble.";

/// A variant name, checked against the known ones.
fn variant_name(s: &str) -> Result<String, String> {
    match variants::by_name(s) {
        Some(v) => Ok(v.name().to_string()),
        None => Err(format!(
            "unknown variant `{s}`; known variants: {}",
            variants::names().join(", ")
        )),
    }
}

/// Flags of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Scenario files, or directories searched recursively for *.toml.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Run this variant instead of the file's `expect` table (repeatable).
    #[arg(long = "variant", value_name = "V", value_parser = variant_name)]
    pub variants: Vec<String>,
    /// What --variant is compared with.
    #[arg(long, value_name = "V", default_value = "upstream", value_parser = variant_name)]
    pub against: String,
    /// One JSON object per line (per file and variant) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Rewrite each file's `expect` table with the verdicts of every
    /// variant as they are now (after adding a seed layout, or a deliberate
    /// change to the model). The file is re-rendered: use `note` for prose.
    #[arg(long, conflicts_with_all = ["variants", "json"])]
    pub bless: bool,
}

/// Flags of `minimize`.
#[derive(Debug, Args)]
pub struct MinimizeArgs {
    /// The scenario file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Variant whose primary finding is kept (default: the first variant
    /// with findings in the file's `expect` table, else rfc-v1).
    #[arg(long, value_name = "V", value_parser = variant_name)]
    pub variant: Option<String>,
    /// What the variant is compared with.
    #[arg(long, value_name = "V", default_value = "upstream", value_parser = variant_name)]
    pub against: String,
    /// Write the minimized scenario here (default: standard output).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<PathBuf>,
}

/// Flags of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The scenario file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Variant to explain (default: the first variant with findings in the
    /// file's `expect` table, else rfc-v1).
    #[arg(long, value_name = "V", value_parser = variant_name)]
    pub variant: Option<String>,
    /// What the variant is compared with.
    #[arg(long, value_name = "V", default_value = "upstream", value_parser = variant_name)]
    pub against: String,
}

/// Flags of `fuzz`.
#[derive(Debug, Args)]
pub struct FuzzCmd {
    /// Variant under test.
    #[arg(long, value_name = "V", default_value = "rfc-v1", value_parser = variant_name)]
    pub variant: String,
    /// What it is compared with.
    #[arg(long, value_name = "V", default_value = "upstream", value_parser = variant_name)]
    pub against: String,
    /// Campaign seed (default: taken from the clock; the summary prints it).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", conflicts_with = "runs")]
    pub time: Option<u64>,
    /// Stop after this many executions.
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
    /// Worker threads (0: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub jobs: usize,
    /// Write each minimized finding as a corpus file in this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not generate allocation failures.
    #[arg(long)]
    pub no_faults: bool,
    /// Stop at the first finding (within --runs or --time).
    #[arg(long)]
    pub stop_on_first: bool,
}

/// Runs the command line `args` (program name first) and returns the exit
/// code. Output goes to standard output and standard error.
pub fn main_with<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                EXIT_TROUBLE
            } else {
                EXIT_CLEAN
            };
        }
    };
    let stdout = std::io::stdout();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut out = stdout.lock();
        let code = dispatch(&cli, &mut out);
        let _ = out.flush();
        code
    }));
    match run {
        Ok(code) => code,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            eprintln!(
                "regbuf-fuzz: internal error (a bug in regbuf-fuzz, not in the input): {msg}"
            );
            EXIT_TROUBLE
        }
    }
}

fn dispatch(cli: &Cli, out: &mut dyn Write) -> i32 {
    match &cli.command {
        Command::Replay(a) => replay::run(a, out),
        Command::Minimize(a) => commands::minimize(a, out),
        Command::Explain(a) => commands::explain(a, out),
        Command::List => commands::list(out),
        Command::Fuzz(a) => commands::fuzz(a),
        Command::ImportArtifact(a) => commands::import_artifact(a, out),
        Command::SeedCorpus(a) => commands::seed_corpus(a, out),
        Command::LiveBench { rounds } => crate::live::bench::run(*rounds),
        Command::Live(a) => crate::live::run_cli(&crate::live::LiveArgs {
            count: a.count,
            seed: a.seed,
            json: a.json,
            out: a.out.clone(),
        }),
    }
}
