//! From a kernel tree and patches to a loaded shared object: read the
//! path's files from the tree, apply the patches to a scratch copy, take
//! the functions the glue reaches, compile them with the system C compiler
//! against the shim, and load the result. Builds are cached by the hash of
//! everything that goes into them.

use super::extract;
use super::TreeError;
use crate::mm::Geometry;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of a tree this tool reads, relative to its root.
pub const FILES: [&str; 4] = [
    "io_uring/rsrc.c",
    "io_uring/rsrc.h",
    "io_uring/memmap.c",
    "io_uring/memmap.h",
];
const SOURCES: [&str; 2] = ["io_uring/rsrc.c", "io_uring/memmap.c"];

/// The shim header and the glue, as this build of regbuf-fuzz carries them.
pub const SHIM_H: &str = include_str!("shim/rf_kernel.h");
/// See [`SHIM_H`].
pub const GLUE_C: &str = include_str!("shim/rf_glue.c");
/// What both glues share, put before either.
pub const GLUE_COMMON_C: &str = include_str!("shim/rf_glue_common.c");
/// The glue for trees of 6.12 and before (`ctx->user_bufs`).
pub const GLUE_612_C: &str = include_str!("shim/rf_glue_612.c");
/// The fault catcher, a translation unit of its own (it needs libc's headers).
pub const GUARD_C: &str = include_str!("shim/rf_guard.c");

/// A tree's files after its patches, ready to compile.
#[derive(Clone, Debug)]
pub struct Source {
    /// The tree's root, as given.
    pub tree: PathBuf,
    /// The patches applied, in order.
    pub patches: Vec<PathBuf>,
    /// [`FILES`] after the patches.
    pub files: BTreeMap<&'static str, String>,
    /// Files the patches change that are not read (their hunks are not applied).
    pub ignored: Vec<String>,
}

/// Reads [`FILES`] from `tree` and applies `patches` to them.
pub fn prepare(tree: &Path, patches: &[PathBuf]) -> Result<Source, TreeError> {
    let mut files = BTreeMap::new();
    for f in FILES {
        let p = tree.join(f);
        let text = std::fs::read_to_string(&p).map_err(|e| TreeError::Tree {
            path: p.clone(),
            reason: format!("cannot read {f}: {e} (is this the root of a kernel tree?)"),
        })?;
        files.insert(f, text);
    }
    let mut ignored = Vec::new();
    for patch in patches {
        super::patch::apply_patch(&mut files, patch, &mut ignored)?;
    }
    Ok(Source {
        tree: tree.to_path_buf(),
        patches: patches.to_vec(),
        files,
        ignored,
    })
}

pub(super) fn io_err(dir: &Path) -> impl Fn(std::io::Error) -> TreeError + '_ {
    move |e| TreeError::Tool {
        tool: "scratch directory".into(),
        reason: format!("{}: {e}", dir.display()),
    }
}

pub(super) fn scratch_dir() -> Result<PathBuf, TreeError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "regbuf-fuzz-patch-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).map_err(io_err(&d))?;
    Ok(d)
}

/// What the tree's `struct io_mapped_ubuf` has, for the glue's accessors.
fn imu_fields(rsrc_h: &str) -> Vec<&'static str> {
    let Some(start) = rsrc_h.find("struct io_mapped_ubuf {") else {
        return vec![];
    };
    let body = &rsrc_h[start
        ..rsrc_h[start..]
            .find("};")
            .map_or(rsrc_h.len(), |e| start + e)];
    let ids: BTreeSet<String> = extract::identifiers(body).into_iter().collect();
    let mut out = Vec::new();
    for (field, def) in [
        ("acct_pages", "RF_HAVE_ACCT_PAGES"),
        ("flags", "RF_HAVE_FLAGS"),
        ("dir", "RF_HAVE_DIR"),
    ] {
        if ids.contains(field) {
            out.push(def);
        }
    }
    out
}

/// The translation unit: the shim, the reached functions of each source
/// file, the glue; and the functions taken.
pub fn translation_unit(src: &Source) -> Result<(String, BTreeSet<String>), TreeError> {
    let old = user_bufs(src);
    let glue = if old { GLUE_612_C } else { GLUE_C };
    let mut parsed = Vec::new();
    for f in SOURCES {
        let items = extract::items(&src.files[f]).map_err(|e| TreeError::Parse {
            file: f.to_string(),
            reason: e,
        })?;
        parsed.push((f, items));
    }
    // The glue's calls, and those of the tree headers' inline functions.
    let mut roots: BTreeSet<String> = extract::identifiers(GLUE_COMMON_C)
        .into_iter()
        .chain(extract::identifiers(glue))
        .collect();
    for h in ["io_uring/rsrc.h", "io_uring/memmap.h"] {
        let items = extract::items(&src.files[h]).map_err(|e| TreeError::Parse {
            file: h.to_string(),
            reason: e,
        })?;
        for it in items.iter().filter(|i| i.function.is_some()) {
            roots.extend(extract::identifiers(&it.text));
        }
    }
    let keep = extract::reachable(parsed.iter().map(|(_, i)| i.as_slice()), &roots);
    let mut tu = String::new();
    if old {
        tu.push_str("#define RF_USER_BUFS 1\n");
    }
    tu.push_str("#include \"rf_kernel.h\"\n");
    for d in imu_fields(&src.files["io_uring/rsrc.h"]) {
        tu.push_str(&format!("#define {d} 1\n"));
    }
    for (f, items) in &parsed {
        tu.push_str(&format!("#line 1 \"{f}\"\n"));
        tu.push_str(&extract::keep_only(items, &keep, f));
    }
    tu.push_str("#line 1 \"rf_glue_common.c\"\n");
    tu.push_str(GLUE_COMMON_C);
    tu.push_str(if old {
        "#line 1 \"rf_glue_612.c\"\n"
    } else {
        "#line 1 \"rf_glue.c\"\n"
    });
    tu.push_str(glue);
    Ok((tu, keep))
}

/// Whether the tree is of the design before 6.13: a table of imu pointers
/// (`ctx->user_bufs`) and reference nodes per generation.
pub fn user_bufs(src: &Source) -> bool {
    src.files["io_uring/rsrc.c"].contains("ctx->user_bufs")
}

/// The `#include`s of the sources and the tree headers, as written.
fn includes(src: &Source) -> BTreeSet<(bool, String)> {
    let mut out = BTreeSet::new();
    for text in src.files.values() {
        for l in text.lines() {
            let l = l.trim_start();
            let Some(rest) = l.strip_prefix("#include") else {
                continue;
            };
            let rest = rest.trim();
            if let Some(r) = rest.strip_prefix('<') {
                if let Some(e) = r.find('>') {
                    out.insert((true, r[..e].to_string()));
                }
            } else if let Some(r) = rest.strip_prefix('"') {
                if let Some(e) = r.find('"') {
                    out.insert((false, r[..e].to_string()));
                }
            }
        }
    }
    out
}

/// A built object, on disk.
#[derive(Clone, Debug)]
pub struct Built {
    /// The shared object.
    pub so: PathBuf,
    /// The functions taken from the tree.
    pub functions: BTreeSet<String>,
    /// Whether this call compiled it (false: it came from the cache).
    pub compiled: bool,
}

/// Where builds are cached: `$REGBUF_FUZZ_CACHE`, else the user's cache
/// directory.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("REGBUF_FUZZ_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("regbuf-fuzz").join("ctree")
}

/// Compiles `src` for `geo` (or finds it in the cache).
pub fn build(src: &Source, geo: &Geometry) -> Result<Built, TreeError> {
    let (tu, functions) = translation_unit(src)?;
    let defines = [
        format!("-DRF_PAGE_SHIFT={}", geo.page_shift),
        format!("-DRF_SZ_1G={}UL", geo.sz_1g()),
        format!("-DRF_INT_MAX={}", geo.int_max()),
    ];
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let flags: Vec<String> = [
        "-std=gnu11",
        "-O1",
        "-g",
        "-fPIC",
        "-fno-strict-aliasing",
        // Loops stay loops: a copy made by libc would be checked by no one.
        "-fno-tree-loop-distribute-patterns",
        "-w",
        "-Werror=implicit-function-declaration",
        "-Werror=incompatible-pointer-types",
        "-Werror=int-conversion",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(kasan_flags(&cc))
    .chain(defines)
    .collect();
    let mut h = Sha256::new();
    for part in [tu.as_str(), SHIM_H, GUARD_C, &cc, &flags.join(" ")] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in &src.files {
        h.update(k.as_bytes());
        h.update(v.as_bytes());
    }
    let hash: String = h
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = cache_root().join(&hash);
    let so = dir.join("kernel.so");
    if so.exists() {
        return Ok(Built {
            so,
            functions,
            compiled: false,
        });
    }
    // One scratch directory per build in flight (threads of one process too).
    static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.with_extension(format!(
        "tmp{}-{}",
        std::process::id(),
        BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("include")).map_err(io_err(&tmp))?;
    let w = |p: PathBuf, s: &str| -> Result<(), TreeError> {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(io_err(d))?;
        }
        std::fs::write(&p, s).map_err(io_err(&p))
    };
    w(tmp.join("rf_kernel.h"), SHIM_H)?;
    w(tmp.join("rsrc.h"), &src.files["io_uring/rsrc.h"])?;
    w(tmp.join("memmap.h"), &src.files["io_uring/memmap.h"])?;
    for (angle, inc) in includes(src) {
        let stub = "#include \"rf_kernel.h\"\n";
        if angle {
            w(tmp.join("include").join(&inc), stub)?;
        } else if inc != "rsrc.h" && inc != "memmap.h" {
            w(tmp.join(&inc), stub)?;
        }
    }
    w(tmp.join("tu.c"), &tu)?;
    w(tmp.join("rf_guard.c"), GUARD_C)?;
    let mut compile = Command::new(&cc);
    compile
        .args(&flags)
        .arg("-I")
        .arg(&tmp)
        .arg("-I")
        .arg(tmp.join("include"))
        .arg("-c")
        .arg("-o")
        .arg(tmp.join("tu.o"))
        .arg(tmp.join("tu.c"));
    // The catcher is not instrumented: it reports what the checks find.
    let mut link = Command::new(&cc);
    link.args(["-std=gnu11", "-O1", "-g", "-fPIC", "-shared", "-Wl,-z,defs"])
        .arg(format!(
            "-DRF_SHADOW_OFFSET={:#x}UL",
            super::guard::SHADOW_OFFSET
        ))
        .arg("-o")
        .arg(tmp.join("kernel.so"))
        .arg(tmp.join("tu.o"))
        .arg(tmp.join("rf_guard.c"))
        .arg("-ldl");
    for mut cmd in [compile, link] {
        let out = cmd.output().map_err(|e| TreeError::Tool {
            tool: cc.clone(),
            reason: format!("cannot run the C compiler: {e}"),
        })?;
        if !out.status.success() {
            let log = String::from_utf8_lossy(&out.stderr).to_string();
            return Err(TreeError::Compile {
                dir: tmp,
                missing: missing_symbols(&log),
                log,
            });
        }
    }
    // Another build of the same hash may have finished first: its result
    // is the same, and it stays (a loaded object is never replaced).
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if !so.exists() {
            return Err(TreeError::Tool {
                tool: "build cache".into(),
                reason: format!("cannot move the build to {}", dir.display()),
            });
        }
    }
    Ok(Built {
        so,
        functions,
        compiled: true,
    })
}

/// KASAN's instrumentation, inline, with the shadow where
/// [`super::guard::SHADOW_OFFSET`] puts it: every load and store of the
/// kernel's C checks its shadow byte. Stack and globals are not poisoned
/// (the path's bugs are in heap objects).
fn kasan_flags(cc: &str) -> Vec<String> {
    let clang = Command::new(cc)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("clang"));
    let off = format!("{:#x}", super::guard::SHADOW_OFFSET);
    let v: Vec<String> = if clang {
        vec![
            "-fsanitize=kernel-address".into(),
            "-mllvm".into(),
            format!("-asan-mapping-offset={off}"),
            "-mllvm".into(),
            "-asan-stack=0".into(),
            "-mllvm".into(),
            "-asan-globals=0".into(),
            "-mllvm".into(),
            "-asan-instrumentation-with-call-threshold=100000".into(),
        ]
    } else {
        vec![
            "-fsanitize=kernel-address".into(),
            format!("-fasan-shadow-offset={off}"),
            "--param=asan-stack=0".into(),
            "--param=asan-globals=0".into(),
            "--param=asan-instrumentation-with-call-threshold=100000".into(),
        ]
    };
    v
}

/// Names the compiler could not resolve: what the shim lacks for this tree.
pub fn missing_symbols(log: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    for l in log.lines() {
        for pat in [
            "implicit declaration of function '",
            "implicit declaration of function \u{2018}",
            "' undeclared",
            "\u{2019} undeclared",
            "has no member named '",
            "has no member named \u{2018}",
            "unknown type name '",
            "unknown type name \u{2018}",
            "undefined reference to `",
            "undefined reference to \u{2018}",
        ] {
            if let Some(i) = l.find(pat) {
                let name = if pat.contains("undeclared") {
                    let before = &l[..i];
                    before
                        .rsplit(['\'', '\u{2018}'])
                        .next()
                        .unwrap_or("")
                        .to_string()
                } else {
                    l[i + pat.len()..]
                        .split(['\'', '\u{2019}', '`'])
                        .next()
                        .unwrap_or("")
                        .to_string()
                };
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out.into_iter().collect()
}
