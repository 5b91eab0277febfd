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

const TREE_HELP: &str = "\
Testing your own patch (book: docs/src/ctree.md):
  regbuf-fuzz tree --tree ~/linux --patch my.patch
  regbuf-fuzz fuzz --tree ~/linux --patch my.patch --variant tree+patch --against tree
  regbuf-fuzz fuzz --tree ~/linux --variant tree --against v7.2   # the C against the model";

const EXIT_HELP: &str = "\
Exit status (as diff(1)): 0 no finding, 1 at least one finding, 2 trouble
(bad flags, an unknown variant, a file that cannot be read, parsed or built;
the message names the file, the field and the reason).";

/// The book page that documents each subcommand (`""`: the command
/// itself), and whether it writes `--json` lines ([`JSON_PAGE`]): every
/// help text ends with a line naming them, and tests/docs.rs checks that
/// each page exists and that every subcommand is here.
pub const BOOK: &[(&str, &str, bool)] = &[
    ("", "docs/src/usage.md", false),
    ("tree", "docs/src/ctree.md", false),
    ("replay", "docs/src/usage.md", true),
    ("minimize", "docs/src/usage.md", false),
    ("explain", "docs/src/usage.md", true),
    ("repro", "docs/src/repro.md", false),
    ("report", "docs/src/repro.md", false),
    ("list", "docs/src/usage.md", false),
    ("completions", "docs/src/usage.md", false),
    ("man", "docs/src/usage.md", false),
    ("fuzz", "docs/src/usage.md", true),
    ("exhaust", "docs/src/engines.md", true),
    ("live", "docs/src/live.md", true),
    ("live-bench", "docs/src/live.md", false),
    ("lab", "docs/src/lab.md", false),
    ("import-artifact", "docs/src/engines.md", false),
    ("seed-corpus", "docs/src/scale.md", false),
];

/// The page that documents the `--json` lines, field by field.
pub const JSON_PAGE: &str = "docs/src/json.md";

/// The last line of a help text: where the book says more.
pub fn book_line(page: &str, json: bool) -> String {
    if json {
        format!("Book: {page}; --json lines: {JSON_PAGE}")
    } else {
        format!("Book: {page}")
    }
}

/// The command line as clap sees it, every help text ending with its
/// [`BOOK`] line: what parsing, `--help`, completions and the man page
/// are all made from.
pub fn command() -> clap::Command {
    fn with_book(c: clap::Command, line: &str) -> clap::Command {
        let text = match c.get_after_help() {
            Some(h) => format!("{h}\n\n{line}"),
            None => line.to_string(),
        };
        c.after_help(text)
    }
    let mut cmd = <Cli as clap::CommandFactory>::command();
    for &(name, page, json) in BOOK {
        let line = book_line(page, json);
        cmd = if name.is_empty() {
            with_book(cmd, &line)
        } else {
            cmd.mut_subcommand(name, |c| with_book(c, &line))
        };
    }
    cmd
}

/// `--version`: the tool's, then the kernels it models (`list` has them all).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "; models Linux 7.1-rc1 (io_uring/rsrc.c 650303626be6, io_uring/memmap.c 4f9b439319c4), \
     Linux 7.2 (df0a52537c0f, ca76b56a2a2a, b4e41050b212, 3996771b8f75), \
     [RFC v1] fast path huge page handling, and 8 upstream fixes reverted"
);

/// Differential fuzzer for the io_uring fixed-buffer registration path
/// (IORING_REGISTER_BUFFERS): runs a model of io_uring/rsrc.c as upstream
/// 7.1-rc1 and as patched variants on the same scenario, and reports broken
/// invariants and differences.
#[derive(Debug, Parser)]
#[command(name = "regbuf-fuzz", version = VERSION, after_help = EXIT_HELP)]
pub struct Cli {
    /// A kernel tree: its io_uring/rsrc.c and memmap.c, compiled against
    /// the shim, become the variant `tree` (and, with --patch, `tree+patch`).
    #[arg(long, global = true, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// A patch as posted (git format-patch, mbox or plain diff) applied to
    /// --tree for the variant `tree+patch` (repeatable, applied in order).
    #[arg(long = "patch", global = true, value_name = "FILE", requires = "tree")]
    pub patches: Vec<PathBuf>,
    /// The Rust variant the tree's C is a version of: its known bugs and
    /// accounting rule apply to the C (default: v7.2 for a tree with
    /// ctx->hpage_acct, else upstream).
    #[arg(long, global = true, value_name = "V", value_parser = variant_name, requires = "tree")]
    pub tree_model: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a kernel tree (--tree, with any --patch): the functions taken
    /// from it, what the shim lacks, whether it is supported; builds it.
    #[command(after_help = TREE_HELP)]
    Tree,
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
    /// Write a self-contained C program that builds the scenario's layout
    /// on the running kernel, runs its fixed I/O on a real ring and checks
    /// every byte and pin counter against the upstream model.
    #[command(after_help = REPRO_HELP)]
    Repro(ReproArgs),
    /// Write one finding as a plain-text mail for the io_uring list
    /// (layout, both sides' bvecs and pins, the rule, a suggested fix, the C
    /// reproducer), and optionally an SVG drawing of it.
    #[command(
        after_help = "Exit status: 1 if the variant shows a finding, 0 if not, 2 trouble (a missing or malformed file, an unwritable --svg path)."
    )]
    Report(ReportArgs),
    /// List the variants and the invariants.
    List,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    /// generated from these flags: `regbuf-fuzz completions bash > /etc/bash_completion.d/regbuf-fuzz`.
    Completions {
        /// The shell.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) generated from these flags:
    /// `regbuf-fuzz man > regbuf-fuzz.1 && man ./regbuf-fuzz.1`.
    Man,
    /// Run a fuzzing campaign of one variant against another.
    Fuzz(FuzzCmd),
    /// Run every scenario within a bound (small geometry) on one variant
    /// against another.
    #[command(after_help = EXHAUST_HELP)]
    Exhaust(ExhaustCmd),
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
    /// Run each corpus file's C reproducer on lab kernels under qemu (TCG):
    /// linux-source-6.12 as it is (`base`), with the RFC v1 port
    /// (`rfc-v1`), with the port and its fix (`rfc-v1-fixed`); print each
    /// result beside the model's prediction for that variant.
    #[command(after_help = LAB_HELP)]
    Lab(LabCmd),
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
    /// Scenario files (or directories of them) to run as they are instead
    /// of drawing: real geometry, no fault plan.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

const LAB_HELP: &str = "\
Installs what it needs from Debian (linux-source-6.12, qemu-system-x86,
busybox-static, the kernel's build dependencies), unpacks the source once
into the cache, builds one kernel per variant (tinyconfig + lab/config/,
KASAN, DEBUG_VM; reused while source, config, patches and compiler are
unchanged), writes and compiles each file's reproducer (`regbuf-fuzz repro`),
boots each kernel with an initramfs that runs them, and reads the serial log.
A reproducer's exit 1, a KASAN report, a BUG, a WARNING, \"Bad page state\", a
refcount message or a panic while it runs is FAIL; a time-out is HANG.

Exit status: 0 every result agrees with the model, 1 a disagreement, 2
trouble (a build, a patch, a reproducer, a boot), 77 the lab cannot run here
(the reason is printed).";

/// Flags of `lab`.
#[derive(Debug, Args)]
pub struct LabCmd {
    /// Corpus files or directories (default: corpus/findings/rfc-v1).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Lab kernel (repeatable): base, rfc-v1, rfc-v1-fixed (default: all).
    #[arg(long = "variant", value_name = "V")]
    pub kernels: Vec<String>,
    /// Compiler for the kernels: gcc or clang.
    #[arg(long, value_name = "CC", default_value = "gcc", value_parser = ["gcc", "clang"])]
    pub cc: String,
    /// Where the source and the builds are kept (default: $REGBUF_LAB_CACHE,
    /// else /var/cache/regbuf-lab).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Where serial logs, reproducers, the initramfs and lab.json go.
    #[arg(long, value_name = "DIR", default_value = "lab-out")]
    pub out: PathBuf,
    /// Print the result as one JSON document (also written to OUT/lab.json).
    #[arg(long)]
    pub json: bool,
    /// Do not install missing packages: skip (exit 77) instead.
    #[arg(long)]
    pub no_install: bool,
    /// Parallel jobs of make.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub jobs: usize,
    /// Memory of the VM in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub memory: u32,
    /// Seconds one reproducer may run in the VM before it counts as a hang.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub repro_timeout: u32,
    /// Seconds a boot may take before the first reproducer starts.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub boot_timeout: u32,
    /// 2 MiB huge pages the init reserves.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub hugepages: u32,
    /// Build kernels, reproducers and the initramfs; boot nothing.
    #[arg(long)]
    pub build_only: bool,
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

Known bugs of a variant (`regbuf-fuzz list`) are recorded in `expect` with
the marker \" (known)\" and shown, but count as findings only with --known.

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
fn geometry_name(s: &str) -> Result<crate::scenario::GeometryName, String> {
    crate::scenario::GeometryName::parse(s)
}

fn variant_name(s: &str) -> Result<String, String> {
    // Built from --tree after parsing; their names are reserved.
    if s == crate::ctree::cli::TREE || s == crate::ctree::cli::TREE_PATCHED {
        return Ok(s.to_string());
    }
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
    /// Report the variants' known bugs as findings, marked as known,
    /// instead of setting them aside.
    #[arg(long)]
    pub known: bool,
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
    /// Known bugs count as findings (to minimise one).
    #[arg(long)]
    pub known: bool,
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
    /// Count known bugs as findings (for the exit status); the report
    /// shows them either way.
    #[arg(long)]
    pub known: bool,
    /// One JSON object (docs/src/json.md) instead of the drawing.
    #[arg(long)]
    pub json: bool,
}

const REPRO_HELP: &str = "\
The program needs gcc alone (raw io_uring system calls, no liburing):
  gcc -Wall -O2 -o repro repro.c && sudo ./repro
It exits 0 PASS, 1 FAIL (printing the byte or counter, expected and
actual), 77 when this kernel or machine cannot build the layout (with the
reason), 2 trouble. Its header says what the variant's model does instead.

Exit status of `regbuf-fuzz repro`: 0 written, 2 trouble (a missing or
malformed file, an unknown variant).";

/// Flags of `repro`.
#[derive(Debug, Args)]
pub struct ReproArgs {
    /// The scenario file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Write the C program here (default: standard output).
    #[arg(short = 'o', long = "out", value_name = "FILE.c")]
    pub out: Option<PathBuf>,
    /// Variant the header explains (default: the first variant with
    /// findings in the file's `expect` table, else rfc-v1).
    #[arg(long, value_name = "V", value_parser = variant_name)]
    pub variant: Option<String>,
}

/// Flags of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The scenario file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Also draw the layout and both sides' bvecs here.
    #[arg(long, value_name = "OUT.svg")]
    pub svg: Option<PathBuf>,
    /// Variant reported (default: the first variant with findings in the
    /// file's `expect` table, else rfc-v1).
    #[arg(long, value_name = "V", value_parser = variant_name)]
    pub variant: Option<String>,
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
    /// Do not draw kernel-buffer operations (`kbuf_*`): the draws of a
    /// build without them, seed for seed (a tree's C never gets them).
    #[arg(long)]
    pub no_kbufs: bool,
    /// Stop at the first finding (within --runs or --time).
    #[arg(long)]
    pub stop_on_first: bool,
    /// Report the variants' known bugs (`regbuf-fuzz list` names them) as
    /// findings, marked as known, instead of setting them aside.
    #[arg(long)]
    pub known: bool,
    /// Draw only this geometry (repeat for several; default: all, x86-64
    /// most often; with a tree's C, x86-64's only). `regbuf-fuzz list`
    /// shows each with its sizes.
    #[arg(long, value_name = "NAME", value_parser = geometry_name)]
    pub geometry: Vec<crate::scenario::GeometryName>,
}

const EXHAUST_HELP: &str = "\
The address space is --chunks chunks of one PMD (8 pages at small
geometry). Each chunk is a hole; a whole hugetlb page or THP at its
alignment, or one shmem page at all 8 pages; or cut after a page of --cuts
into two pieces, each a hole, the first or the last pages of a THP, a whole
mTHP (a 4-page piece) or one shmem page at every page of the piece. Up to
--folios folios of --kinds, each mapped any number of times where user
space can (anonymous pages once). Programs: `register [A]`; with
--buffers 2 also `register [A, B]`, `register [A]; update 0 [B]` and
`register [A, NULL]; update 1 [B]`. A runs over every span of up to
--max-len-pages pages at every --offsets pair; two-buffer programs use
page-aligned --pair-spans. With --faults single every scenario runs once
more for each allocation call its fault-free run made, that call failing.
Symmetry reductions (folio relabelling, translation by chunks, pages outside
the buffers' window) run one scenario per class; --no-symmetry runs all.

Findings are minimised and written to --out as the campaign writes them;
each report ends with the command that replays it. Standard output is the
same byte for byte for the same bound whatever --jobs is; wall time and
rate go to standard error.

Exit status: 0 no finding, 1 at least one finding, 2 trouble (a bad flag:
the message names it and why).";

/// A folio kind of `exhaust --kinds`.
fn kind_name(s: &str) -> Result<crate::exhaust::space::Kind, String> {
    use crate::exhaust::space::Kind;
    Kind::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown kind `{s}`; kinds: {}", names.join(", "))
    })
}

/// `exhaust --cuts`: pages a chunk may be cut after.
#[derive(Clone, Debug)]
pub struct Cuts(pub Vec<u8>);

fn cuts(s: &str) -> Result<Cuts, String> {
    if s == "none" {
        return Ok(Cuts(vec![]));
    }
    let chunk = crate::exhaust::space::CHUNK;
    let mut v = s
        .split(',')
        .map(|c| match c.trim().parse::<u8>() {
            Ok(n) if (1..chunk).contains(&n) => Ok(n),
            _ => Err(format!(
                "`{c}` is not a page from 1 to {} (a chunk is {chunk} pages), nor `none`",
                chunk - 1
            )),
        })
        .collect::<Result<Vec<u8>, String>>()?;
    v.sort_unstable();
    v.dedup();
    Ok(Cuts(v))
}

/// Flags of `exhaust`.
#[derive(Debug, Args)]
pub struct ExhaustCmd {
    /// Variant under test.
    #[arg(long, value_name = "V", default_value = "rfc-v1", value_parser = variant_name)]
    pub variant: String,
    /// What it is compared with.
    #[arg(long, value_name = "V", default_value = "upstream", value_parser = variant_name)]
    pub against: String,
    /// Chunks of one PMD (8 pages) in the address space.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=crate::exhaust::MAX_CHUNKS as i64))]
    pub chunks: u8,
    /// Most distinct folios in a layout.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(1..=crate::exhaust::MAX_FOLIOS as i64))]
    pub folios: u8,
    /// Folio kinds drawn from (comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',',
          default_value = "hugetlb,thp,mthp,small", value_parser = kind_name)]
    pub kinds: Vec<crate::exhaust::space::Kind>,
    /// Pages after which a chunk may be cut into two pieces (comma-separated,
    /// 1 to 7), or `none` for whole chunks only.
    #[arg(long, value_name = "LIST", default_value = "1,4,7", value_parser = cuts)]
    pub cuts: Cuts,
    /// Longest buffer in pages (default: the whole address space).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..))]
    pub max_len_pages: Option<u8>,
    /// Sub-page offsets of one-buffer programs: `edge` starts 0, 1 or
    /// page-1 bytes into the first page and uses all, all but one or one
    /// byte of the last; `page` is page-aligned only.
    #[arg(long, value_name = "SET", default_value = "edge", value_parser = ["edge", "page"])]
    pub offsets: String,
    /// Most buffers in a program: 1 (`register [A]`) or 2 (also register
    /// [A, B], and an update of B next to or in place of A).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub buffers: u8,
    /// Buffers of two-buffer programs: `chunk` (whole chunks) or `page`
    /// (every page-aligned span).
    #[arg(long, value_name = "GRAIN", default_value = "chunk", value_parser = ["chunk", "page"])]
    pub pair_spans: String,
    /// `single`: also every single-fault plan the fault-free run can meet;
    /// `none`: fault-free runs only.
    #[arg(long, value_name = "PLAN", default_value = "single", value_parser = ["single", "none"])]
    pub faults: String,
    /// Run every scenario of the bound, without symmetry reduction.
    #[arg(long)]
    pub no_symmetry: bool,
    /// Worker threads (0: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub jobs: usize,
    /// Write each minimized finding as a corpus file in this directory.
    #[arg(long, value_name = "DIR", default_value = "exhaust-findings")]
    pub out: PathBuf,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop at the first finding in enumeration order.
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
    let args: Vec<T> = args.into_iter().collect();
    let words: Vec<String> = args
        .iter()
        .map(|a| a.clone().into().to_string_lossy().into_owned())
        .collect();
    let parsed = command()
        .try_get_matches_from(args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
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
    if let Err(e) = tree_variants_have_their_flags(&cli, &words) {
        eprintln!("regbuf-fuzz: {e}");
        return EXIT_TROUBLE;
    }
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

/// The variants `tree` and `tree+patch` exist only with `--tree` (and
/// `--patch`): naming one without is trouble, said before anything runs.
fn tree_variants_have_their_flags(cli: &Cli, words: &[String]) -> Result<(), String> {
    use crate::ctree::cli::{TREE, TREE_PATCHED};
    let named = |n: &str| {
        words
            .iter()
            .skip(1)
            .any(|w| w == n || w.ends_with(&format!("={n}")))
    };
    let subcommand_is_tree = matches!(cli.command, Command::Tree);
    if cli.tree.is_none() && !subcommand_is_tree && (named(TREE) || named(TREE_PATCHED)) {
        return Err(format!(
            "the variants `{TREE}` and `{TREE_PATCHED}` are built from a kernel tree: give --tree DIR"
        ));
    }
    if cli.patches.is_empty() && named(TREE_PATCHED) {
        return Err(format!(
            "the variant `{TREE_PATCHED}` needs at least one --patch FILE"
        ));
    }
    Ok(())
}

fn dispatch(cli: &Cli, out: &mut dyn Write) -> i32 {
    if let Some(tree) = &cli.tree {
        if let Err(e) = crate::ctree::cli::register(tree, &cli.patches, cli.tree_model.as_deref()) {
            eprintln!("regbuf-fuzz: {e}");
            return EXIT_TROUBLE;
        }
    }
    match &cli.command {
        Command::Tree => crate::ctree::cli::check(cli.tree.as_deref(), &cli.patches, out),
        Command::Replay(a) => replay::run(a, out),
        Command::Minimize(a) => commands::minimize(a, out),
        Command::Explain(a) => commands::explain(a, out),
        Command::Repro(a) => commands::repro(a, out),
        Command::Report(a) => commands::report(a, out),
        Command::List => commands::list(out),
        Command::Completions { shell } => {
            let mut cmd = command();
            clap_complete::generate(*shell, &mut cmd, "regbuf-fuzz", out);
            EXIT_CLEAN
        }
        Command::Man => {
            let cmd = command();
            match clap_mangen::Man::new(cmd).render(out) {
                Ok(()) => EXIT_CLEAN,
                Err(e) => {
                    eprintln!("regbuf-fuzz man: {e}");
                    EXIT_TROUBLE
                }
            }
        }
        Command::Fuzz(a) => commands::fuzz(a),
        Command::Exhaust(a) => commands::exhaust(a),
        Command::ImportArtifact(a) => commands::import_artifact(a, out),
        Command::SeedCorpus(a) => commands::seed_corpus(a, out),
        Command::LiveBench { rounds } => crate::live::bench::run(*rounds),
        Command::Lab(a) => crate::lab::run_cli(&crate::lab::LabArgs {
            kernels: a.kernels.clone(),
            files: a.files.clone(),
            cache: a
                .cache_dir
                .clone()
                .or_else(|| std::env::var_os("REGBUF_LAB_CACHE").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("/var/cache/regbuf-lab")),
            out: a.out.clone(),
            cc: a.cc.clone(),
            json: a.json,
            no_install: a.no_install,
            jobs: a.jobs,
            memory_mb: a.memory,
            per_repro_secs: a.repro_timeout,
            boot_secs: a.boot_timeout,
            hugepages: a.hugepages,
            build_only: a.build_only,
        }),
        Command::Live(a) => crate::live::run_cli(&crate::live::LiveArgs {
            count: a.count,
            seed: a.seed,
            json: a.json,
            out: a.out.clone(),
            files: a.files.clone(),
        }),
    }
}
