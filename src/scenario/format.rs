//! The scenario file format, version 1. See `corpus/README.md` for a guide.

use crate::mm::{FaultPlan, Geometry};
use serde::{Deserialize, Serialize};

pub use super::kbuf::{KbufBvec, KbufSpan};

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// One scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Must be [`FORMAT_VERSION`].
    pub format: u32,
    /// What this scenario shows, in a sentence or two (corpus files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Geometry the positions below were written for: `real`, `small`,
    /// `arm64-4k`, `arm64-16k`, `arm64-64k`, `ppc64-radix` or `ppc64-hash`.
    pub geometry: GeometryName,
    /// RLIMIT_MEMLOCK; absent means the ring's creator has CAP_IPC_LOCK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memlock: Option<Size>,
    /// Folios in physical order; each lies right after the previous one, at
    /// its natural alignment, plus `gap` pages.
    #[serde(default, rename = "folio")]
    pub folios: Vec<FolioSpec>,
    /// The address space, segments in address order from the base address.
    #[serde(default, rename = "segment")]
    pub segments: Vec<Segment>,
    /// What the ring does, in order.
    #[serde(default, rename = "op")]
    pub ops: Vec<Op>,
    /// Allocation calls that fail.
    #[serde(default, skip_serializing_if = "FaultPlan::is_empty")]
    pub faults: FaultPlan,
    /// Expected verdict per variant, run against upstream: the finding
    /// signatures (empty: clean). Corpus replay fails on any change.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub expect: std::collections::BTreeMap<String, Vec<String>>,
}

impl Scenario {
    /// Whether the scenario can run on this machine's own kernel (x86-64):
    /// what `live`, `repro` and `lab` ask before they build a layout for
    /// real. `cmd` names the command in the error.
    pub fn check_runs_here(&self, cmd: &str) -> Result<(), String> {
        if self.geometry.is_x86() {
            return Ok(());
        }
        Err(format!(
            "field `geometry`: `{}` is another architecture's; {cmd} runs scenarios on this machine's kernel, x86-64, so only `real` and `small` files (the model runs the others: `replay`, `explain`)",
            self.geometry
        ))
    }
}

impl FaultPlan {
    /// No fault at all.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// A named geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GeometryName {
    /// x86-64: 4 KiB pages, 2 MiB and 1 GiB folios.
    #[serde(rename = "real")]
    Real,
    /// x86-64 scaled for exploring: 4 KiB pages, 32 KiB and 16 MiB folios.
    #[serde(rename = "small")]
    Small,
    /// arm64, 4 KiB pages.
    #[serde(rename = "arm64-4k")]
    Arm64_4k,
    /// arm64, 16 KiB pages.
    #[serde(rename = "arm64-16k")]
    Arm64_16k,
    /// arm64, 64 KiB pages.
    #[serde(rename = "arm64-64k")]
    Arm64_64k,
    /// ppc64, radix MMU, 64 KiB pages.
    #[serde(rename = "ppc64-radix")]
    Ppc64Radix,
    /// ppc64, hash MMU, 64 KiB pages.
    #[serde(rename = "ppc64-hash")]
    Ppc64Hash,
}

impl GeometryName {
    /// Every geometry, in the order `list` shows them.
    pub const ALL: [GeometryName; 7] = [
        GeometryName::Real,
        GeometryName::Small,
        GeometryName::Arm64_4k,
        GeometryName::Arm64_16k,
        GeometryName::Arm64_64k,
        GeometryName::Ppc64Radix,
        GeometryName::Ppc64Hash,
    ];

    /// The geometry.
    pub fn geometry(self) -> Geometry {
        match self {
            GeometryName::Real => Geometry::REAL,
            GeometryName::Small => Geometry::SMALL,
            GeometryName::Arm64_4k => Geometry::ARM64_4K,
            GeometryName::Arm64_16k => Geometry::ARM64_16K,
            GeometryName::Arm64_64k => Geometry::ARM64_64K,
            GeometryName::Ppc64Radix => Geometry::PPC64_RADIX,
            GeometryName::Ppc64Hash => Geometry::PPC64_HASH,
        }
    }

    /// The name a scenario file writes.
    pub fn as_str(self) -> &'static str {
        match self {
            GeometryName::Real => "real",
            GeometryName::Small => "small",
            GeometryName::Arm64_4k => "arm64-4k",
            GeometryName::Arm64_16k => "arm64-16k",
            GeometryName::Arm64_64k => "arm64-64k",
            GeometryName::Ppc64Radix => "ppc64-radix",
            GeometryName::Ppc64Hash => "ppc64-hash",
        }
    }

    /// The geometry of a name, or the list of names.
    pub fn parse(name: &str) -> Result<GeometryName, String> {
        GeometryName::ALL
            .into_iter()
            .find(|g| g.as_str() == name)
            .ok_or_else(|| {
                let all: Vec<_> = GeometryName::ALL.iter().map(|g| g.as_str()).collect();
                format!("unknown geometry `{name}`; one of {}", all.join(", "))
            })
    }

    /// Whether this is x86-64, the only architecture this machine's own
    /// kernel can run a scenario on (`live`, `repro`, `lab`).
    pub fn is_x86(self) -> bool {
        matches!(self, GeometryName::Real | GeometryName::Small)
    }
}

impl std::fmt::Display for GeometryName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of memory a folio is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FolioKindSpec {
    /// Order 0; shmem, so it may be mapped at several addresses.
    Small,
    /// Anonymous mTHP of `order` (2 to PMD order - 1).
    Mthp,
    /// Anonymous PMD-sized THP.
    Thp,
    /// hugetlbfs page of PMD size (2 MiB on x86-64).
    HugetlbPmd,
    /// hugetlbfs page of PUD size (1 GiB on x86-64); refused where the
    /// geometry has no PUD-level huge page.
    HugetlbPud,
    /// arm64 contiguous-PTE hugetlbfs page (`CONT_PTE_SIZE`: 64 KiB with
    /// 4 KiB pages, 2 MiB with 16 or 64 KiB pages); arm64 only.
    HugetlbContPte,
    /// arm64 contiguous-PMD hugetlbfs page (`CONT_PMD_SIZE`: 32 MiB, 1 GiB,
    /// 16 GiB); arm64 only.
    HugetlbContPmd,
    /// A PMD-sized shmem (memfd) folio: a file page like `small`, so it
    /// may be mapped in part, at any page offset, at several addresses.
    ShmemThp,
    /// A shmem (memfd) mTHP of `order` (2 to PMD order - 1), mapped as
    /// freely as `shmem-thp`.
    ShmemMthp,
    /// A PMD-sized hugetlb page mapped `MAP_PRIVATE` (what
    /// `MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB` gives once written): an
    /// anonymous folio that is also hugetlb, mapped once, whole, aligned.
    HugetlbPmdPrivate,
    /// The PUD-sized `MAP_PRIVATE` hugetlb page; refused where the geometry
    /// has no PUD-level huge page.
    HugetlbPudPrivate,
}

impl FolioKindSpec {
    /// The name a scenario file writes.
    pub fn as_str(self) -> &'static str {
        match self {
            FolioKindSpec::Small => "small",
            FolioKindSpec::Mthp => "mthp",
            FolioKindSpec::Thp => "thp",
            FolioKindSpec::HugetlbPmd => "hugetlb-pmd",
            FolioKindSpec::HugetlbPud => "hugetlb-pud",
            FolioKindSpec::HugetlbContPte => "hugetlb-cont-pte",
            FolioKindSpec::HugetlbContPmd => "hugetlb-cont-pmd",
            FolioKindSpec::ShmemThp => "shmem-thp",
            FolioKindSpec::ShmemMthp => "shmem-mthp",
            FolioKindSpec::HugetlbPmdPrivate => "hugetlb-pmd-private",
            FolioKindSpec::HugetlbPudPrivate => "hugetlb-pud-private",
        }
    }

    /// Whether it is anonymous memory (`folio_test_anon()`): its pages are
    /// mapped at most once in one address space, and fork() shares them.
    pub fn is_anon(self) -> bool {
        matches!(self, FolioKindSpec::Thp | FolioKindSpec::Mthp) || self.is_private_hugetlb()
    }

    /// Whether it is an anonymous THP or mTHP (anonymous, not hugetlb).
    pub fn is_anon_thp(self) -> bool {
        matches!(self, FolioKindSpec::Thp | FolioKindSpec::Mthp)
    }

    /// Whether it is a `MAP_PRIVATE` hugetlb page.
    pub fn is_private_hugetlb(self) -> bool {
        matches!(
            self,
            FolioKindSpec::HugetlbPmdPrivate | FolioKindSpec::HugetlbPudPrivate
        )
    }

    /// The hugetlb kind of the same size mapped `MAP_SHARED` (a memfd's
    /// page) for a private one; any other kind as it is. What asks only for
    /// a folio's size or pool (`hugetlb-pmd` or `hugetlb-pud`) asks this.
    pub fn sized(self) -> FolioKindSpec {
        match self {
            FolioKindSpec::HugetlbPmdPrivate => FolioKindSpec::HugetlbPmd,
            FolioKindSpec::HugetlbPudPrivate => FolioKindSpec::HugetlbPud,
            k => k,
        }
    }

    /// Whether it is a large shmem folio.
    pub fn is_shmem_large(self) -> bool {
        matches!(self, FolioKindSpec::ShmemThp | FolioKindSpec::ShmemMthp)
    }

    /// Whether it takes an `order` (the multi-size kinds).
    pub fn takes_order(self) -> bool {
        matches!(self, FolioKindSpec::Mthp | FolioKindSpec::ShmemMthp)
    }

    /// Whether it is a hugetlbfs page.
    pub fn is_hugetlb(self) -> bool {
        matches!(
            self,
            FolioKindSpec::HugetlbPmd
                | FolioKindSpec::HugetlbPud
                | FolioKindSpec::HugetlbContPte
                | FolioKindSpec::HugetlbContPmd
        ) || self.is_private_hugetlb()
    }
}

/// A folio.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolioSpec {
    /// Its kind.
    pub kind: FolioKindSpec,
    /// Order, for `mthp` and `shmem-mthp` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    /// Free pages left before it (after alignment), so it is not physically
    /// adjacent to the previous folio.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gap: u32,
    /// The process fork()ed after faulting it in and the child has exited:
    /// no page is `PageAnonExclusive` until a pin unshares it. The anonymous
    /// kinds only (thp, mthp, hugetlb-pmd-private, hugetlb-pud-private).
    #[serde(default, skip_serializing_if = "is_false")]
    pub forked: bool,
    /// With `forked`, for a private hugetlb page: the child has not exited
    /// but keeps the page mapped until the ring is gone, so the page is
    /// mapped twice and the first pin copies it into a new huge page from
    /// the pool (hugetlb's COW); the pin holds the copy.
    #[serde(default, skip_serializing_if = "is_false")]
    pub child_maps: bool,
    /// This many identical folios in a row (default 1), each after the
    /// previous one as any folio is; a segment over the entry maps them all
    /// in order. Files only: reading expands it ([`super::runs`]).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u64,
}

fn is_zero(x: &u32) -> bool {
    *x == 0
}
fn is_false(x: &bool) -> bool {
    !*x
}

/// Rings a scenario can name: ring 0 and three more.
pub const MAX_RINGS: u32 = 4;

/// A stretch of the address space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Folio mapped here; absent for a hole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folio: Option<u32>,
    /// First page of the folio mapped (default 0).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub first: u64,
    /// Pages mapped (default: the rest of the folio); for a hole, its length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
    /// PROT_READ only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub readonly: bool,
    /// Place at the folio's natural alignment (a PMD-mapped THP). Always true
    /// for hugetlb, which can only be mapped that way.
    #[serde(default, skip_serializing_if = "is_false")]
    pub aligned: bool,
    /// The same mapping this many times in a row (default 1): one segment
    /// of `count` copies, each mapping the same pages, as a file mapped at
    /// consecutive addresses is. Positions inside it count from its start,
    /// across the copies. A hole of `count` times `pages`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}
fn is_one(x: &u64) -> bool {
    *x == 1
}

fn is_zero_u64(x: &u64) -> bool {
    *x == 0
}

/// A position in the address space: a byte offset inside a segment. An
/// offset equal to the segment's size is its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pos {
    /// Segment index.
    pub seg: u32,
    /// Byte offset inside it.
    pub off: u64,
}

/// A size written in units that scale with the geometry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Size {
    /// `SZ_1G`s: the PUD folio at the x86-64 geometries (1 GiB at real,
    /// 16 MiB at small), 1 GiB on every other architecture, whether or not
    /// it has a PUD-level huge page, so a length over the registration limit
    /// is over it at every geometry.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub pud: u64,
    /// PMD folios (2 MiB at real geometry).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub pmd: u64,
    /// Base pages.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub pages: u64,
    /// Bytes, possibly negative.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub bytes: i64,
}

fn is_zero_i64(x: &i64) -> bool {
    *x == 0
}

impl Size {
    /// Bytes at `geo` (saturating at 0).
    pub fn bytes_at(&self, geo: &Geometry) -> u64 {
        let v = (self.pud as i128) * geo.sz_1g() as i128
            + (self.pmd as i128) * geo.folio_bytes(geo.pmd_order) as i128
            + (self.pages as i128) * geo.page_size() as i128
            + self.bytes as i128;
        v.clamp(0, u64::MAX as i128) as u64
    }
}

/// One `struct iovec` of a register or update call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IovSpec {
    /// `[start, end)`.
    Range {
        /// First byte.
        start: Pos,
        /// One past the last byte.
        end: Pos,
    },
    /// `start` and a symbolic length (for lengths over the limit).
    Sized {
        /// First byte.
        start: Pos,
        /// Length.
        len: Size,
    },
    /// `iov_base = NULL` with a length: `{NULL, 0}` clears a slot.
    Null {
        /// Length.
        #[serde(default)]
        len: Size,
    },
    /// Literal values, for address arithmetic edge cases.
    Raw {
        /// `iov_base` (an integer, or a string such as `"0xfffffffffffff000"`
        /// for values TOML integers cannot hold).
        #[serde(with = "u64_text")]
        base: u64,
        /// `iov_len`.
        #[serde(with = "u64_text")]
        len: u64,
    },
}

/// Data direction of an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ddir {
    /// `READ_FIXED`: into the buffer (ITER_DEST).
    Read,
    /// `WRITE_FIXED`: out of the buffer (ITER_SOURCE).
    Write,
}

/// A byte range of the address space used by an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// First byte.
    pub start: Pos,
    /// One past the last byte.
    pub end: Pos,
}

/// One operation on the ring.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// `IORING_REGISTER_BUFFERS` with these iovecs.
    Register {
        /// The iovecs.
        iovecs: Vec<IovSpec>,
    },
    /// `IORING_REGISTER_BUFFERS2` with `IORING_RSRC_REGISTER_SPARSE`.
    RegisterSparse {
        /// Table size.
        nr: u32,
    },
    /// `IORING_REGISTER_BUFFERS_UPDATE` from slot `offset`.
    Update {
        /// First slot.
        offset: u32,
        /// The iovecs.
        iovecs: Vec<IovSpec>,
    },
    /// `IORING_UNREGISTER_BUFFERS`.
    Unregister,
    /// `READ_FIXED`/`WRITE_FIXED` on a slot.
    Import {
        /// Slot (`buf_index`).
        slot: u32,
        /// Direction.
        ddir: Ddir,
        /// Bytes of the address space to transfer.
        span: Span,
        /// Leave the request in flight (a read with no data yet, poll-armed)
        /// until a later `complete`: it holds its buffer's node till then.
        #[serde(default, skip_serializing_if = "is_false")]
        hold: bool,
    },
    /// `READV_FIXED`/`WRITEV_FIXED` on a slot.
    Readv {
        /// Slot (`buf_index`).
        slot: u32,
        /// Direction.
        ddir: Ddir,
        /// One span per iovec.
        spans: Vec<Span>,
        /// As for `import`.
        #[serde(default, skip_serializing_if = "is_false")]
        hold: bool,
    },
    /// The oldest request still in flight gets its data and completes;
    /// freeing it drops its node reference. Nothing happens when no
    /// request is in flight.
    Complete,
    /// The operations after this one, up to the next `ring`, are made on
    /// ring `ring` of the task (0 until then). A ring the scenario names
    /// is set up with ring 0, before the first operation.
    Ring {
        /// The ring's number, below [`MAX_RINGS`].
        ring: u32,
    },
    /// `IORING_REGISTER_CLONE_BUFFERS` on the current ring: the buffers of
    /// ring `src` (the current one too) installed in its table, sharing
    /// each `io_mapped_ubuf` (`imu->refs`).
    Clone {
        /// The source ring.
        src: u32,
        /// `src_off`: the first source slot.
        #[serde(default, skip_serializing_if = "is_zero")]
        src_off: u32,
        /// `dst_off`: the slot of the current ring's table it goes to.
        #[serde(default, skip_serializing_if = "is_zero")]
        dst_off: u32,
        /// `nr`: how many slots; 0 for the whole source table.
        #[serde(default, skip_serializing_if = "is_zero")]
        nr: u32,
        /// `IORING_REGISTER_DST_REPLACE`: the current table is replaced
        /// (without it, a ring that has a table refuses with -EBUSY).
        #[serde(default, skip_serializing_if = "is_false")]
        replace: bool,
    },
    /// `io_buffer_register_bvec()`: a driver (ublk's zero copy) puts the
    /// pages of one of its block requests in slot `index` of the current
    /// ring's table as a kernel buffer (`IO_REGBUF_F_KBUF`).
    KbufRegister {
        /// The slot.
        index: u32,
        /// `rq_data_dir()`: `read` (the request's pages are filled: a
        /// `READ_FIXED` may go into them) or `write`.
        dir: Ddir,
        /// The request's bvecs (`rq_for_each_bvec()`), in order.
        bvecs: Vec<KbufBvec>,
        /// `blk_rq_nr_phys_segments()`, which sizes the imu; default the
        /// number of bvecs, never fewer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        segments: Option<u32>,
    },
    /// `io_buffer_unregister_bvec()`: the driver takes slot `index` back.
    KbufUnregister {
        /// The slot.
        index: u32,
    },
    /// `READ_FIXED`/`WRITE_FIXED` on a slot holding a kernel buffer, whose
    /// addresses are offsets (`imu->ubuf` is 0).
    KbufImport {
        /// Slot (`buf_index`).
        slot: u32,
        /// Direction.
        ddir: Ddir,
        /// First byte, from the buffer's start.
        off: u64,
        /// Bytes to transfer.
        len: u64,
        /// As for `import`.
        #[serde(default, skip_serializing_if = "is_false")]
        hold: bool,
    },
    /// `READV_FIXED`/`WRITEV_FIXED` on a slot holding a kernel buffer.
    KbufReadv {
        /// Slot (`buf_index`).
        slot: u32,
        /// Direction.
        ddir: Ddir,
        /// One `{ off, len }` per iovec, offsets from the buffer's start.
        iovecs: Vec<KbufSpan>,
        /// As for `import`.
        #[serde(default, skip_serializing_if = "is_false")]
        hold: bool,
    },
}

impl Op {
    /// Short name for reports and signatures.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Register { .. } => "register",
            Op::RegisterSparse { .. } => "register_sparse",
            Op::Update { .. } => "update",
            Op::Unregister => "unregister",
            Op::Import { .. } => "import",
            Op::Readv { .. } => "readv",
            Op::Complete => "complete",
            Op::Ring { .. } => "ring",
            Op::Clone { .. } => "clone",
            Op::KbufRegister { .. } => "kbuf_register",
            Op::KbufUnregister { .. } => "kbuf_unregister",
            Op::KbufImport { .. } => "kbuf_import",
            Op::KbufReadv { .. } => "kbuf_readv",
        }
    }

    /// Whether it is one of the kernel-buffer operations (`kbuf_*`), which
    /// the Rust model alone runs.
    pub fn is_kbuf(&self) -> bool {
        matches!(
            self,
            Op::KbufRegister { .. }
                | Op::KbufUnregister { .. }
                | Op::KbufImport { .. }
                | Op::KbufReadv { .. }
        )
    }
}

impl Scenario {
    /// Parses a scenario from TOML text.
    pub fn from_toml(text: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        if s.format != FORMAT_VERSION {
            return Err(format!(
                "field `format`: version {} is not supported (this build reads {FORMAT_VERSION})",
                s.format
            ));
        }
        super::runs::expand(&s).map_err(|(field, reason)| format!("field `{field}`: {reason}"))
    }

    /// The scenario as TOML text, one `[[folio]]`, `[[segment]]` and
    /// `[[op]]` table per item with everything inside an item written inline
    /// (`iovecs = [{ kind = "range", start = { seg = 0, off = 0 }, … }]`), so
    /// that a file reads like the layout it describes.
    pub fn to_toml(&self) -> String {
        let v = serde_json::to_value(super::runs::fold(self)).expect("scenario serialises");
        let serde_json::Value::Object(top) = v else {
            unreachable!("a struct serialises to an object")
        };
        let mut out = String::new();
        let mut sections = Vec::new();
        for (k, v) in &top {
            match v {
                serde_json::Value::Array(items)
                    if items.iter().all(|i| i.is_object()) && !items.is_empty() =>
                {
                    sections.push((k, Some(items)))
                }
                serde_json::Value::Object(_) if k == "expect" || k == "faults" => {
                    sections.push((k, None))
                }
                _ => out.push_str(&format!("{} = {}\n", toml_key(k), inline(v))),
            }
        }
        for (k, items) in sections {
            match items {
                Some(items) => {
                    for item in items {
                        out.push_str(&format!("\n[[{k}]]\n"));
                        for (ik, iv) in item.as_object().expect("checked above") {
                            out.push_str(&format!("{} = {}\n", toml_key(ik), inline(iv)));
                        }
                    }
                }
                None => {
                    out.push_str(&format!("\n[{k}]\n"));
                    for (ik, iv) in top[k].as_object().expect("checked above") {
                        out.push_str(&format!("{} = {}\n", toml_key(ik), inline(iv)));
                    }
                }
            }
        }
        out
    }

    /// Every position of the operations, in a fixed order, each with
    /// whether it starts a range (`true`) or ends one.
    pub fn positions_mut(&mut self) -> Vec<(&mut Pos, bool)> {
        let mut out = Vec::new();
        for op in &mut self.ops {
            match op {
                Op::Register { iovecs } | Op::Update { iovecs, .. } => {
                    for iov in iovecs {
                        match iov {
                            IovSpec::Range { start, end } => {
                                out.push((start, true));
                                out.push((end, false));
                            }
                            IovSpec::Sized { start, .. } => out.push((start, true)),
                            IovSpec::Null { .. } | IovSpec::Raw { .. } => {}
                        }
                    }
                }
                Op::Import { span, .. } => {
                    out.push((&mut span.start, true));
                    out.push((&mut span.end, false));
                }
                Op::Readv { spans, .. } => {
                    for sp in spans {
                        out.push((&mut sp.start, true));
                        out.push((&mut sp.end, false));
                    }
                }
                Op::RegisterSparse { .. }
                | Op::Unregister
                | Op::Complete
                | Op::Ring { .. }
                | Op::Clone { .. }
                | Op::KbufRegister { .. }
                | Op::KbufUnregister { .. }
                | Op::KbufImport { .. }
                | Op::KbufReadv { .. } => {}
            }
        }
        out
    }

    /// The first kernel-buffer operation, with its index: what the paths
    /// that run a scenario on a real kernel or a tree's C, which cannot
    /// register a kernel buffer, refuse a file by.
    pub fn first_kbuf_op(&self) -> Option<(usize, &'static str)> {
        self.ops
            .iter()
            .enumerate()
            .find(|(_, o)| o.is_kbuf())
            .map(|(i, o)| (i, o.kind()))
    }

    /// Size of the scenario, for minimisation and reports.
    pub fn size(&self) -> ScenarioSize {
        ScenarioSize {
            segments: self.segments.len(),
            mappings: self.segments.iter().filter(|s| s.folio.is_some()).count(),
            folios: self.folios.len(),
            ops: self.ops.len(),
            iovecs: self
                .ops
                .iter()
                .map(|o| match o {
                    Op::Register { iovecs } | Op::Update { iovecs, .. } => iovecs.len(),
                    Op::Readv { spans, .. } => spans.len(),
                    Op::KbufRegister { bvecs, .. } => bvecs.len(),
                    Op::KbufReadv { iovecs, .. } => iovecs.len(),
                    _ => 0,
                })
                .sum(),
            faults: self.faults.points.len(),
        }
    }
}

/// How big a scenario is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)]
pub struct ScenarioSize {
    pub segments: usize,
    pub mappings: usize,
    pub folios: usize,
    pub ops: usize,
    pub iovecs: usize,
    pub faults: usize,
}

/// A u64 written as a TOML integer when it fits in one (i64), and as a
/// `"0x…"` string otherwise; read from either.
mod u64_text {
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(*v) {
            Ok(i) => s.serialize_i64(i),
            Err(_) => s.serialize_str(&format!("{v:#x}")),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Int(i64),
            Str(String),
        }
        match Text::deserialize(d)? {
            Text::Int(i) => {
                u64::try_from(i).map_err(|_| de::Error::custom("a negative address or length"))
            }
            Text::Str(s) => {
                let t = s.trim();
                let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    Some(h) => u64::from_str_radix(&h.replace('_', ""), 16),
                    None => t.replace('_', "").parse(),
                };
                r.map_err(|_| de::Error::custom(format!("`{s}` is not a u64 (decimal or 0x hex)")))
            }
        }
    }
}

/// A TOML key, quoted unless it is a bare key.
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

/// A JSON value (from serde) written as an inline TOML value.
fn inline(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Null => "{}".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
        J::String(s) => toml::Value::String(s.clone()).to_string(),
        J::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        J::Object(o) if o.is_empty() => "{}".into(),
        J::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}
