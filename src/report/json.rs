//! The `--json` lines of `replay`, `fuzz`, `exhaust`, `live` and `explain`.
//!
//! Every line is one of the structs below, so the shape that
//! `docs/src/json.md` and `docs/schema/` describe is defined once: a field
//! cannot change meaning in one command and not in another, and a change
//! here is a change to the documented contract (see [`SCHEMA`]).
//!
//! Nothing here reads a clock or an address: apart from the two time
//! measurements (`elapsed_s`, `cpu_s`) a line is a function of its input.

use super::explain::{folio_kind, Buf, Sides, Step};
use crate::model::iov_iter::{push_merged, PhysRange};
use crate::model::{Errno, World};
use crate::oracle::{Finding, FindingKind, Verdict};
use crate::scenario::{Scenario, ScenarioError, ScenarioSize};
use crate::variants::{KnownBug, Variant};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// The version of every line's shape, written as `"schema"` on each. It
/// goes up when a field is removed or changes meaning, so that a consumer
/// can refuse what it does not understand; a new field leaves it alone.
pub const SCHEMA: u32 = 1;

/// Writes `line` as one line of JSON and flushes it: a reader of a long
/// campaign sees each result when it is ready, and one `write` per line
/// keeps lines whole.
pub fn emit<T: Serialize>(out: &mut dyn Write, line: &T) -> std::io::Result<()> {
    let mut s = serde_json::to_string(line).map_err(std::io::Error::other)?;
    s.push('\n');
    out.write_all(s.as_bytes())?;
    out.flush()
}

/// [`emit`] to standard output; a closed pipe is not worth a panic.
pub fn emit_stdout<T: Serialize>(line: &T) {
    let _ = emit(&mut std::io::stdout().lock(), line);
}

/// The first three fields of every line: which version, which command,
/// which kind of line. The pair names its schema file,
/// `docs/schema/<command>.<type>.v<schema>.json`; every `error` line has
/// the one `docs/schema/error.v<schema>.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Head {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The subcommand that wrote the line.
    pub command: &'static str,
    /// What the line is: `result`, `finding`, `summary`, `scenario`,
    /// `skip` or `error`.
    #[serde(rename = "type")]
    pub line: &'static str,
}

impl Head {
    /// The head of a `line` of `command`.
    pub fn new(command: &'static str, line: &'static str) -> Head {
        Head {
            schema: SCHEMA,
            command,
            line,
        }
    }
}

/// A stretch of physical memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Range {
    /// Physical address of its first byte.
    pub phys: u64,
    /// Bytes.
    pub len: u64,
    /// The folio (index in `folios`) its first byte lies in; `null` for
    /// memory in no folio of the scenario.
    pub folio: Option<u32>,
}

fn ranges(w: &World, r: &[PhysRange]) -> Vec<Range> {
    let shift = w.geo.page_shift;
    r.iter()
        .map(|&(phys, len)| Range {
            phys,
            len,
            folio: w.phys.page_folio(phys >> shift).map(|f| f.0),
        })
        .collect()
}

/// Pins a buffer holds on one folio.
#[derive(Clone, Debug, Serialize)]
pub struct FolioPins {
    /// Folio index; `null` for pages in no folio of the scenario.
    pub folio: Option<u32>,
    /// The buffer's bvec entries whose `bv_page` lies in it: the FOLL_PIN
    /// pins `io_release_ubuf()` drops for it, one per entry.
    pub pins: u64,
}

/// One installed buffer (`struct io_mapped_ubuf`) after an operation.
#[derive(Clone, Debug, Serialize)]
pub struct Buffer {
    /// Table slot.
    pub slot: usize,
    /// `imu->ubuf`.
    pub ubuf: u64,
    /// `imu->len`, bytes.
    pub len: u64,
    /// `imu->nr_bvecs`.
    pub nr_bvecs: u32,
    /// `imu->folio_shift`.
    pub folio_shift: u32,
    /// `imu->acct_pages`, pages; `null` in a version without the field.
    pub acct_pages: Option<u64>,
    /// Σ `bv_len` over the written entries, bytes (equals `len` when the
    /// buffer is whole).
    pub bv_len_sum: u64,
    /// Entries among the first `nr_bvecs` never written (stale memory).
    pub unwritten_bvecs: u32,
    /// The physical bytes the bvecs name, in bvec order, merged where
    /// one entry ends where the next begins.
    pub ranges: Vec<Range>,
    /// Pins per folio, by folio index.
    pub pins: Vec<FolioPins>,
}

impl Buffer {
    fn of(w: &World, slot: usize, b: &Buf) -> Buffer {
        let shift = w.geo.page_shift;
        let ps = w.geo.page_size();
        let mut merged = Vec::new();
        let mut pins: BTreeMap<Option<u32>, u64> = BTreeMap::new();
        let (mut bv_len_sum, mut unwritten) = (0u64, 0u64);
        // By runs: a table of 2^28 entries is a few hundred of them.
        for (_, n, run) in b.bvecs.entries() {
            let Some(r) = run else {
                unwritten += n;
                continue;
            };
            bv_len_sum += r.bv.bv_len * n;
            let addr = (r.bv.bv_page << shift).wrapping_add(r.bv.bv_offset);
            if r.bv.bv_len == ps {
                push_merged(&mut merged, (addr, n * ps));
            } else {
                for k in 0..n {
                    push_merged(&mut merged, (addr.wrapping_add(k * ps), r.bv.bv_len));
                }
            }
            for (_, _, k, f) in crate::model::runs::folio_pieces(&w.phys, r.bv.bv_page, n) {
                *pins.entry(f.map(|f| f.0)).or_default() += k;
            }
        }
        Buffer {
            slot,
            ubuf: b.ubuf,
            len: b.len,
            nr_bvecs: b.nr_bvecs,
            folio_shift: b.folio_shift,
            acct_pages: b.acct_pages,
            bv_len_sum,
            unwritten_bvecs: unwritten as u32,
            ranges: ranges(w, &merged),
            pins: pins
                .into_iter()
                .map(|(folio, pins)| FolioPins { folio, pins })
                .collect(),
        }
    }
}

/// How one operation changed the pins on one folio.
#[derive(Clone, Debug, Serialize)]
pub struct PinDelta {
    /// Folio index.
    pub folio: u32,
    /// FOLL_PIN pins before the operation.
    pub before: i64,
    /// After it.
    pub after: i64,
    /// `after - before`.
    pub delta: i64,
}

/// One operation on one variant.
#[derive(Clone, Debug, Serialize)]
pub struct OpResult {
    /// Index in the scenario's operations; ring exit is the last.
    pub op: usize,
    /// `register`, `register_sparse`, `update`, `unregister`, `import`,
    /// `readv`, `complete`, `ring`, `clone`, `kbuf_register`,
    /// `kbuf_unregister`, `kbuf_import`, `kbuf_readv` or `ring_exit`.
    pub kind: &'static str,
    /// Return value to user space: 0, a count, or `-errno`.
    pub ret: i64,
    /// The errno's name for a negative `ret` (`EFAULT`), else `null`.
    pub errno: Option<String>,
    /// Allocation sites that failed during it (scenario-file names).
    pub faults: Vec<&'static str>,
    /// The physical bytes an import reached; `null` for no import.
    pub import: Option<Vec<Range>>,
    /// `buf_table.nr` after it.
    pub table_nr: usize,
    /// The buffers it installed or changed, as they are after it, by slot
    /// (the table starts empty, so the operations so far, applied in
    /// order, give what is installed).
    pub buffers: Vec<Buffer>,
    /// Slots it emptied.
    pub released: Vec<usize>,
    /// Folios whose pin count it changed.
    pub pin_deltas: Vec<PinDelta>,
    /// `user->locked_vm` after it, pages; `null` without a user
    /// (CAP_IPC_LOCK).
    pub locked_vm: Option<u64>,
    /// `mm->pinned_vm` after it, pages.
    pub pinned_vm: u64,
}

/// One variant's run of the scenario.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// The variant.
    pub variant: &'static str,
    /// The task died (an oops) in the last operation listed; nothing after
    /// it ran, ring exit included.
    pub died: bool,
    /// Every operation, then ring exit.
    pub ops: Vec<OpResult>,
}

fn run_result(name: &'static str, w: &World, kinds: &[&'static str], t: &[Step]) -> RunResult {
    let mut ops = Vec::new();
    let mut died = false;
    for (i, pair) in t.windows(2).enumerate() {
        let (before, after) = (&pair[0], &pair[1]);
        let ret = after.ret;
        ops.push(OpResult {
            op: i,
            kind: kinds.get(i).copied().unwrap_or("ring_exit"),
            ret,
            errno: (ret < 0)
                .then(|| Errno::parse(&(-ret).to_string()).map(|e| format!("{e:?}")))
                .flatten(),
            faults: after.faults.iter().map(|f| f.file_name()).collect(),
            import: after.import.as_deref().map(|r| ranges(w, r)),
            table_nr: after.table_nr,
            buffers: after
                .slots
                .iter()
                .enumerate()
                .filter(|&(slot, b)| before.slots.get(slot).and_then(Option::as_ref) != b.as_ref())
                .filter_map(|(slot, b)| Some(Buffer::of(w, slot, b.as_ref()?)))
                .collect(),
            released: before
                .slots
                .iter()
                .enumerate()
                .filter(|&(slot, b)| {
                    b.is_some() && after.slots.get(slot).and_then(Option::as_ref).is_none()
                })
                .map(|(slot, _)| slot)
                .collect(),
            pin_deltas: before
                .pins
                .iter()
                .zip(&after.pins)
                .enumerate()
                .filter(|(_, (b, a))| b != a)
                .map(|(f, (&b, &a))| PinDelta {
                    folio: f as u32,
                    before: b,
                    after: a,
                    delta: a - b,
                })
                .collect(),
            locked_vm: after.locked_vm,
            pinned_vm: after.pinned_vm,
        });
        // The oracle stops judging where the task died; so does the line.
        if after.dead {
            died = true;
            break;
        }
    }
    RunResult {
        variant: name,
        died,
        ops,
    }
}

/// One folio of the scenario's physical memory.
#[derive(Clone, Debug, Serialize)]
pub struct FolioInfo {
    /// Index, as `folio` fields elsewhere name it.
    pub folio: u32,
    /// `small`, `mthp-N`, `thp`, `hugetlb-pmd` or `hugetlb-pud`.
    pub kind: String,
    /// `folio_order()`.
    pub order: u32,
    /// Pfn of the head page.
    pub pfn: u64,
    /// Size, bytes.
    pub bytes: u64,
}

/// One segment of the user address space.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentInfo {
    /// Index, as `seg` in the scenario file.
    pub segment: usize,
    /// User address of its first byte.
    pub vaddr: u64,
    /// Bytes, all copies.
    pub bytes: u64,
    /// The folio mapped; `null` for a hole.
    pub folio: Option<u32>,
    /// First page of the folio mapped.
    pub first_page: u64,
    /// Copies of the mapping in a row.
    pub count: u64,
    /// PROT_READ only.
    pub readonly: bool,
}

/// What a scenario did on each side, for the lines about one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The geometry's name (`real`, `small`, `arm64-64k`, ...).
    pub geometry: String,
    /// Bytes per page.
    pub page_size: u64,
    /// RLIMIT_MEMLOCK, bytes; `null` when the ring's creator has
    /// CAP_IPC_LOCK.
    pub memlock: Option<u64>,
    /// Physical memory, in pfn order.
    pub folios: Vec<FolioInfo>,
    /// The address space, in address order.
    pub segments: Vec<SegmentInfo>,
    /// Per side: the variant compared with, then the variant (one entry
    /// when they are the same).
    pub runs: Vec<RunResult>,
}

impl Outcome {
    /// The outcome of `s` as `sides` traced it.
    pub(crate) fn of(s: &Scenario, sides: &Sides) -> Outcome {
        let w = &sides.built.world;
        let geo = w.geo;
        let mut kinds: Vec<&'static str> =
            sides.built.ops.iter().map(crate::run::op_kind).collect();
        kinds.push("ring_exit");
        Outcome {
            geometry: geo.name(),
            page_size: geo.page_size(),
            memlock: s.memlock.map(|m| m.bytes_at(&geo)),
            folios: w
                .phys
                .folios()
                .iter()
                .enumerate()
                .map(|(i, f)| FolioInfo {
                    folio: i as u32,
                    kind: folio_kind(s, i),
                    order: f.order,
                    pfn: f.head,
                    bytes: geo.folio_bytes(f.order),
                })
                .collect(),
            segments: s
                .segments
                .iter()
                .zip(&sides.built.segments)
                .enumerate()
                .map(|(k, (g, &(vaddr, bytes)))| SegmentInfo {
                    segment: k,
                    vaddr,
                    bytes,
                    folio: g.folio,
                    first_page: g.first,
                    count: g.count,
                    readonly: g.readonly,
                })
                .collect(),
            runs: sides
                .names
                .iter()
                .zip(&sides.traces)
                .map(|(n, t)| run_result(n, w, &kinds, t))
                .collect(),
        }
    }
}

/// Runs `s` on `v` against `against` keeping every buffer's bvecs: the
/// outcome and the verdict.
pub fn outcome(
    s: &Scenario,
    v: &dyn Variant,
    against: &dyn Variant,
) -> Result<(Outcome, Verdict), ScenarioError> {
    let sides = super::explain::sides(s, v, against)?;
    Ok((Outcome::of(s, &sides), sides.verdict))
}

/// A finding's kind in the shape the first `--json` lines gave it:
/// `{"kind": "invariant", "name": [invariant, aspect]}` or
/// `{"kind": "diff", "name": field}`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum KindInfo {
    /// A broken invariant and its aspect.
    Invariant(&'static str, String),
    /// A compared field that differs.
    Diff(&'static str),
}

/// A known bug of a variant.
#[derive(Clone, Debug, Serialize)]
pub struct KnownInfo {
    /// `invariant/aspect` it shows as.
    pub aspect: &'static str,
    /// The commit that fixes it, and its release.
    pub fixed_by: &'static str,
    /// What goes wrong.
    pub summary: &'static str,
}

impl From<&KnownBug> for KnownInfo {
    fn from(k: &KnownBug) -> Self {
        KnownInfo {
            aspect: k.aspect,
            fixed_by: k.fixed_by,
            summary: k.summary,
        }
    }
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct FindingInfo {
    /// `variant:invariant:name/aspect` or `variant:diff:field`.
    pub signature: String,
    /// The same in the first lines' shape ([`KindInfo`]).
    pub kind: KindInfo,
    /// The broken invariant; `null` for a difference.
    pub invariant: Option<&'static str>,
    /// The part of its rule that broke; `null` for a difference.
    pub aspect: Option<String>,
    /// The compared field that differs; `null` for an invariant.
    pub field: Option<&'static str>,
    /// The variant it broke on (for a difference: the candidate).
    pub variant: &'static str,
    /// Index of the operation after which it was seen.
    pub op: usize,
    /// That operation's kind.
    pub op_kind: &'static str,
    /// What was seen, one or more lines of text.
    pub detail: String,
    /// How many times its aspect was seen after that operation (1 for a
    /// difference); `detail` is the first.
    pub count: u32,
    /// The invariant's other aspects broken after the same operation, in
    /// the order seen: they ride along, they are not findings of their own.
    pub also: Vec<AlsoInfo>,
    /// The known bug it is; `null` when it is none.
    pub known: Option<KnownInfo>,
}

/// Another aspect of a finding's invariant, broken after the same operation.
#[derive(Clone, Debug, Serialize)]
pub struct AlsoInfo {
    /// The invariant.
    pub invariant: &'static str,
    /// The aspect.
    pub aspect: String,
    /// What was seen (the first time).
    pub detail: String,
    /// How many times it was seen.
    pub count: u32,
}

impl From<&Finding> for FindingInfo {
    fn from(f: &Finding) -> Self {
        let (kind, invariant, aspect, field) = match &f.kind {
            FindingKind::Invariant(n, a) => (
                KindInfo::Invariant(n, a.clone()),
                Some(*n),
                Some(a.clone()),
                None,
            ),
            FindingKind::Diff(n) => (KindInfo::Diff(n), None, None, Some(*n)),
        };
        FindingInfo {
            signature: f.signature(),
            kind,
            invariant,
            aspect,
            field,
            variant: f.variant,
            op: f.op,
            op_kind: f.op_kind,
            detail: f.detail.clone(),
            count: f.count,
            also: f
                .also
                .iter()
                .map(|v| AlsoInfo {
                    invariant: v.invariant,
                    aspect: v.aspect.clone(),
                    detail: v.detail.clone(),
                    count: v.count,
                })
                .collect(),
            known: f.known.as_ref().map(KnownInfo::from),
        }
    }
}

/// Every finding of `v`, in order.
pub fn findings(v: &[Finding]) -> Vec<FindingInfo> {
    v.iter().map(FindingInfo::from).collect()
}

/// How big a scenario is.
#[derive(Clone, Copy, Debug, Serialize)]
#[allow(missing_docs)]
pub struct Size {
    pub segments: usize,
    pub mappings: usize,
    pub folios: usize,
    pub ops: usize,
    pub iovecs: usize,
    pub faults: usize,
}

impl From<ScenarioSize> for Size {
    fn from(z: ScenarioSize) -> Self {
        Size {
            segments: z.segments,
            mappings: z.mappings,
            folios: z.folios,
            ops: z.ops,
            iovecs: z.iovecs,
            faults: z.faults,
        }
    }
}

/// `replay`: one file, one variant.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayResult {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// The scenario file.
    pub file: String,
    /// The variant run.
    pub variant: String,
    /// What it was compared with (itself: invariants only).
    pub against: String,
    /// The file's expected signatures for this variant; `null` without.
    pub expected: Option<Vec<String>>,
    /// The signatures seen, sorted, known bugs marked ` (known)`.
    pub got: Vec<String>,
    /// Whether `got` equals `expected`; `null` without `expected`.
    pub matches: Option<bool>,
    /// Every finding, earliest first.
    pub findings: Vec<FindingInfo>,
    /// Known bugs set aside (findings only with `--known`).
    pub known: Vec<FindingInfo>,
    /// The command that reproduces this result.
    pub replay: String,
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// `explain --json`: the scenario, both sides, every finding.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainLine {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// The scenario file.
    pub file: String,
    /// The variant explained.
    pub variant: String,
    /// What it is compared with.
    pub against: String,
    /// The file's `note`; `null` without one.
    pub note: Option<String>,
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Every finding, earliest first; the first is the primary one.
    pub findings: Vec<FindingInfo>,
    /// Known bugs set aside.
    pub known: Vec<FindingInfo>,
    /// The command that reproduces it.
    pub replay: String,
}

/// Something a command could not do: a file that cannot be read, parsed,
/// built or written, or a run that cannot go on.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorLine {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// The file to blame; `null` when it is none.
    pub file: Option<String>,
    /// `[line, column]` in it, when known.
    pub at: Option<[usize; 2]>,
    /// The field to blame, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub error: String,
}

impl ErrorLine {
    /// An error of `command` about `file` (if any).
    pub fn new(command: &'static str, file: Option<String>, error: String) -> ErrorLine {
        ErrorLine {
            head: Head::new(command, "error"),
            file,
            at: None,
            field: None,
            error,
        }
    }

    /// A corpus file's error, with where and which field.
    pub fn corpus(command: &'static str, e: &crate::corpus::CorpusError) -> ErrorLine {
        ErrorLine {
            head: Head::new(command, "error"),
            file: Some(e.file.display().to_string()),
            at: e.at.map(|(l, c)| [l, c]),
            field: e.field.clone(),
            error: e.reason.clone(),
        }
    }
}

/// `fuzz`: one distinct finding, minimised.
#[derive(Clone, Debug, Serialize)]
pub struct FuzzFinding {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// Its signature (the primary one of the scenario drawn, unless
    /// `secondary`).
    pub signature: String,
    /// Variant under test.
    pub variant: &'static str,
    /// What it was compared with.
    pub against: &'static str,
    /// Campaign seed.
    pub seed: u64,
    /// The lowest iteration that showed it.
    pub iteration: u64,
    /// A memory error after the scenario's first finding, kept as a
    /// finding of its own.
    pub secondary: bool,
    /// Wall time from the start of the campaign to when it was seen,
    /// seconds.
    pub elapsed_s: f64,
    /// The scenario as drawn.
    pub size_drawn: Size,
    /// The scenario as minimised.
    pub size_minimised: Size,
    /// Whether the minimised scenario is at real geometry.
    pub real_geometry: bool,
    /// Where it was written (`--out`); `null` without `--out`.
    pub file: Option<String>,
    /// The command that reproduces it.
    pub replay: String,
    /// The known bug it is (`--known`); `null` when it is none.
    pub known: Option<KnownInfo>,
    /// The finding as the minimised scenario shows it.
    pub finding: FindingInfo,
    /// The minimised scenario on both sides.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A known bug `fuzz` set aside, and how often.
#[derive(Clone, Debug, Serialize)]
pub struct SetAsideInfo {
    /// The finding's signature.
    pub signature: String,
    /// Runs that showed it.
    pub runs: u64,
    /// The commit that fixes it.
    pub fixed_by: &'static str,
    /// What goes wrong.
    pub summary: &'static str,
}

impl From<&crate::campaign::SetAside> for SetAsideInfo {
    fn from(k: &crate::campaign::SetAside) -> Self {
        SetAsideInfo {
            signature: k.signature.clone(),
            runs: k.runs,
            fixed_by: k.bug.fixed_by,
            summary: k.bug.summary,
        }
    }
}

/// `fuzz`: the last line.
#[derive(Clone, Debug, Serialize)]
pub struct FuzzSummary {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// Always `true`: how the first summaries were told from findings.
    pub summary: bool,
    /// Variant under test.
    pub variant: &'static str,
    /// What it was compared with.
    pub against: &'static str,
    /// Campaign seed.
    pub seed: u64,
    /// Scenarios run.
    pub execs: u64,
    /// Finding lines before this one.
    pub distinct_findings: usize,
    /// Runs whose findings were known bugs set aside.
    pub known_suppressed: u64,
    /// The known bugs set aside, by signature.
    pub known: Vec<SetAsideInfo>,
    /// Wall time of the campaign, seconds (minimisation not included).
    pub elapsed_s: f64,
}

/// `exhaust`: one distinct finding, minimised.
#[derive(Clone, Debug, Serialize)]
pub struct ExhaustFinding {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// Its signature.
    pub signature: String,
    /// Variant under test.
    pub variant: &'static str,
    /// What it was compared with.
    pub against: &'static str,
    /// Scenarios of the bound whose first finding it is.
    pub scenarios: u64,
    /// The first of them, in words.
    pub first: String,
    /// The scenario as minimised.
    pub size_minimised: Size,
    /// Whether the minimised scenario is at real geometry.
    pub real_geometry: bool,
    /// Where it was written.
    pub file: String,
    /// The command that reproduces it.
    pub replay: String,
    /// The finding as the minimised scenario shows it.
    pub finding: FindingInfo,
    /// The minimised scenario on both sides.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Scenarios the symmetry reductions left out, by reduction.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Reduced {
    /// Folio relabelling.
    pub relabelling: u64,
    /// Translation by whole chunks.
    pub translation: u64,
    /// Pages outside the buffers' window.
    pub window: u64,
}

/// `exhaust`: the last line.
#[derive(Clone, Debug, Serialize)]
pub struct ExhaustSummary {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// Always `true`.
    pub summary: bool,
    /// Variant under test.
    pub variant: &'static str,
    /// What it was compared with.
    pub against: &'static str,
    /// The bound, as flags.
    pub bound: String,
    /// Layouts in the bound.
    pub layouts: u64,
    /// Fault-free scenarios in the bound.
    pub enumerated: u64,
    #[allow(missing_docs)]
    pub reduced_by: Reduced,
    /// Fault-free scenarios left after symmetry reduction.
    pub after_symmetry: u64,
    /// Scenarios run, with and without a fault.
    pub executed: u64,
    /// Of which without a fault.
    pub fault_free: u64,
    /// Of which with one allocation call failed.
    pub single_fault: u64,
    /// Finding lines before this one.
    pub distinct_findings: usize,
    /// `--stop-on-first` stopped the search at a finding.
    pub stopped_at_first_finding: bool,
    /// Worker threads.
    pub jobs: usize,
    /// Wall time of the search, seconds (minimisation not included).
    pub elapsed_s: f64,
    /// CPU time of the search, all threads, seconds.
    pub cpu_s: f64,
}

/// `live`: the check could not run on this machine.
#[derive(Clone, Debug, Serialize)]
pub struct LiveSkip {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// The running kernel's release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// Why.
    pub reason: String,
}

/// How `live` judged one scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveVerdict {
    /// The kernel did what the model predicts.
    Agrees,
    /// It did not (a model-fidelity finding).
    Disagrees,
    /// Not judged: this machine could not build it as asked.
    Skipped,
}

/// One thing the kernel and the model did differently.
#[derive(Clone, Debug, Serialize)]
pub struct LiveDisagreement {
    /// Operation index (ring exit is the last).
    pub op: usize,
    /// What was compared.
    pub what: String,
    /// What the model predicted.
    pub model: String,
    /// What the kernel did.
    pub kernel: String,
}

impl From<&crate::live::exec::Disagreement> for LiveDisagreement {
    fn from(d: &crate::live::exec::Disagreement) -> Self {
        LiveDisagreement {
            op: d.op,
            what: d.what.clone(),
            model: d.model.clone(),
            kernel: d.kernel.clone(),
        }
    }
}

/// `live`: one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct LiveScenario {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// The running kernel's release.
    pub kernel: String,
    /// Seed of the draws.
    pub seed: u64,
    /// Index: the draw, or the place among the files given.
    pub scenario: u64,
    /// The file it came from; `null` for a drawn scenario.
    pub input: Option<String>,
    #[allow(missing_docs)]
    pub verdict: LiveVerdict,
    /// Why it was skipped; `null` otherwise.
    pub reason: Option<String>,
    /// Where a disagreeing scenario was written; `null` otherwise.
    pub file: Option<String>,
    /// What differed (empty unless it disagrees).
    pub disagreements: Vec<LiveDisagreement>,
}

/// `live`: counts over the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LiveTally {
    /// Scenarios taken (drawn or read).
    pub drawn: u64,
    /// Judged (not skipped).
    pub judged: u64,
    /// Judged and agreeing.
    pub agreed: u64,
    /// Judged with a page mapped at more than one address.
    pub aliasing: u64,
    /// Judged with a segment mapped several times in a row (`count`).
    pub counted: u64,
    /// Judged with an iovec array that runs into an unmapped page.
    pub copy_faults: u64,
    /// Judged with an operation the model predicts fails.
    pub erroring: u64,
    /// Judged with a read held in flight.
    pub held: u64,
    /// Judged with an update or unregister while a read was in flight.
    pub dropped_while_held: u64,
    /// Judged with a large shmem folio (`shmem-thp`, `shmem-mthp`).
    pub shmem_large: u64,
    /// Judged with a second ring (`ring`) or a clone.
    pub rings: u64,
    /// Judged with a clone that succeeded.
    pub clones: u64,
    /// Judged with a `MAP_PRIVATE` hugetlb page (`hugetlb-pmd-private`,
    /// `hugetlb-pud-private`).
    pub private_hugetlb: u64,
    /// Judged with a private hugetlb page a fork()ed child still maps
    /// (`child_maps`), so that a pin copies it.
    pub child_maps: u64,
    /// Skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
}

/// `live`: the last line.
#[derive(Clone, Debug, Serialize)]
pub struct LiveSummary {
    #[allow(missing_docs)]
    #[serde(flatten)]
    pub head: Head,
    /// Always `true`.
    pub summary: bool,
    /// The running kernel's release.
    pub kernel: String,
    /// Seed of the draws.
    pub seed: u64,
    /// A signal stopped the run early.
    pub interrupted: bool,
    #[allow(missing_docs)]
    pub tally: LiveTally,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::{rfc_v1::RfcV1, upstream::Upstream};

    const ALIASED: &str = "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n\
        [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 2097152 } }]\n";

    #[test]
    fn the_aliased_buffer_shows_its_bvecs_pins_and_finding() {
        let s = Scenario::from_toml(ALIASED).unwrap();
        let (o, verdict) = outcome(&s, &RfcV1, &Upstream).unwrap();
        assert_eq!(o.runs.len(), 2);
        let [up, rfc] = [&o.runs[0], &o.runs[1]];
        assert_eq!((up.variant, rfc.variant), ("upstream", "rfc-v1"));
        // register, then ring exit
        assert_eq!(up.ops.len(), 2);
        assert_eq!(up.ops[1].kind, "ring_exit");
        let (a, b) = (&up.ops[0].buffers[0], &rfc.ops[0].buffers[0]);
        assert_eq!((a.nr_bvecs, b.nr_bvecs), (2, 1));
        assert_eq!((a.len, b.len), (4 << 20, 4 << 20));
        assert_eq!(b.bv_len_sum, 2 << 20);
        assert_eq!(a.pins[0].pins, 2);
        assert_eq!(b.pins[0].pins, 1);
        assert_eq!(a.ranges.len(), 2, "the same folio twice: not merged");
        assert_eq!(a.ranges[0].folio, Some(0));
        assert_eq!(up.ops[0].pin_deltas[0].delta, 2);
        assert_eq!(rfc.ops[0].pin_deltas[0].delta, 1);
        let f = FindingInfo::from(&verdict.findings[0]);
        assert_eq!(f.invariant, Some("coverage"));
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["kind"]["name"][0], "coverage", "the first lines' shape");
    }

    #[test]
    fn every_line_starts_with_schema_command_and_type() {
        let l = LiveSkip {
            head: Head::new("live", "skip"),
            kernel: "6.1".into(),
            reason: "not root".into(),
        };
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"schema":1,"command":"live","type":"skip","kernel":"6.1","reason":"not root"}"#
        );
        let mut out = Vec::new();
        emit(&mut out, &l).unwrap();
        assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), 1);
        assert!(out.ends_with(b"}\n"));
    }
}
