//! Lab kernels: Debian's packages installed, `linux-source-6.12` unpacked
//! once into the cache, one build directory (`O=`) per variant and
//! compiler, reused while its cache key (source, fragment, patches,
//! compiler, recipe) is unchanged.
//!
//! All variants share one unpacked source tree. A build restores the files
//! the lab's patches touch from pristine copies (keeping their original
//! modification times), applies the variant's patches (each checked with
//! `patch --dry-run` first), builds, and restores the pristine files again.
//! A patched variant's first build starts from a copy of the `base` build
//! directory, so only what the patches touch is compiled again. A lock
//! file keeps two lab runs from patching the tree at once.

use super::config::{self, KeyParts};
use super::Trouble;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The Debian source package the lab builds.
pub const SOURCE_PACKAGE: &str = "linux-source-6.12";
/// Its tarball.
pub const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
/// The directory the tarball unpacks to.
pub const SOURCE_DIR: &str = "linux-source-6.12";
/// Bumped when the build commands below change.
pub const RECIPE: &str = "tinyconfig + lab/config/*.config, olddefconfig, make -j2 bzImage (v1)";

/// Packages the lab needs from Debian: the kernel source, the emulator,
/// busybox for the initramfs, the kernel's build dependencies.
pub const PACKAGES: &[&str] = &[
    SOURCE_PACKAGE,
    "qemu-system-x86",
    "busybox-static",
    "build-essential",
    "bc",
    "flex",
    "bison",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "xz-utils",
    "kmod",
];

/// One lab kernel: a variant of the 6.12 source.
#[derive(Clone, Debug)]
pub struct KernelVariant {
    /// Name in the table (`base`, `rfc-v1`, `rfc-v1-fixed`).
    pub name: &'static str,
    /// The model variant it corresponds to.
    pub model: &'static str,
    /// Patches under `lab/patches/6.12/`, applied in order.
    pub patches: &'static [&'static str],
}

/// The kernels the lab knows.
pub const KERNELS: &[KernelVariant] = &[
    KernelVariant {
        name: "base",
        model: "upstream",
        patches: &[],
    },
    KernelVariant {
        name: "rfc-v1",
        model: "rfc-v1",
        patches: &["rfc-v1.patch"],
    },
    KernelVariant {
        name: "rfc-v1-fixed",
        model: "rfc-v1-fixed",
        patches: &["rfc-v1.patch", "rfc-v1-fixed.patch"],
    },
];

/// A kernel looked up by name.
pub fn kernel(name: &str) -> Option<&'static KernelVariant> {
    KERNELS.iter().find(|k| k.name == name)
}

/// What a build produced.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Built {
    /// Kernel name.
    pub name: String,
    /// The bzImage.
    pub bzimage: PathBuf,
    /// Its build directory.
    pub dir: PathBuf,
    /// The cache key it was built (or found) with.
    pub key: String,
    /// Whether an earlier build was reused as it was.
    pub reused: bool,
    /// Seconds this run spent on it (configuring and compiling).
    pub build_secs: f64,
    /// Whether the build started from a copy of the base build.
    pub seeded_from_base: bool,
    /// The compiler.
    pub cc: String,
}

/// Whether a Debian package is installed.
fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs what is missing of `pkgs` with apt-get. `Err(reason)` when
/// they cannot be had here (no apt-get, not root, the archive refuses).
pub fn ensure_packages(pkgs: &[&str], may_install: bool) -> Result<Vec<String>, String> {
    if Command::new("dpkg-query")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err("no dpkg-query: not a Debian-like system".into());
    }
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(vec![]);
    }
    if !may_install {
        return Err(format!(
            "packages not installed: {} (apt-get install {})",
            missing.join(" "),
            missing.join(" ")
        ));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "packages not installed and not root to install them: {}",
            missing.join(" ")
        ));
    }
    eprintln!("lab: apt-get install {}", missing.join(" "));
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !install() {
        let _ = Command::new("apt-get")
            .args(["update", "-q"])
            .stdout(Stdio::null())
            .status();
        if !install() {
            return Err(format!(
                "apt-get install {} failed (see its messages above)",
                missing.join(" ")
            ));
        }
    }
    let still: Vec<&str> = missing.iter().copied().filter(|p| !installed(p)).collect();
    if !still.is_empty() {
        return Err(format!(
            "still not installed after apt-get: {}",
            still.join(" ")
        ));
    }
    Ok(missing.iter().map(|s| s.to_string()).collect())
}

/// Runs a command, its output appended to `log` (or inherited when
/// `None`); `Err` with the command and the log's tail when it fails.
pub fn run_logged(cmd: &mut Command, log: Option<&Path>) -> Result<(), Trouble> {
    let shown = format!("{cmd:?}");
    if let Some(l) = log {
        let f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(l)
            .map_err(|e| Trouble(format!("{}: {e}", l.display())))?;
        let f2 = f
            .try_clone()
            .map_err(|e| Trouble(format!("{}: {e}", l.display())))?;
        cmd.stdout(f).stderr(f2);
    }
    let st = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Trouble(format!("{shown}: {e}")))?;
    if st.success() {
        return Ok(());
    }
    let tail = log
        .and_then(|l| fs::read_to_string(l).ok())
        .map(|t| {
            let lines: Vec<&str> = t.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        })
        .unwrap_or_default();
    Err(Trouble(format!("{shown} failed ({st})\n{tail}")))
}

/// The lab's view of its cache directory.
#[derive(Clone, Debug)]
pub struct Cache {
    /// The root (`/var/cache/regbuf-lab` unless told otherwise).
    pub root: PathBuf,
}

/// Holds the cache lock while alive.
pub struct Lock(fs::File);

impl Drop for Lock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for as long as self.0 lives.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl Cache {
    /// The unpacked source tree.
    pub fn src(&self) -> PathBuf {
        self.root.join("src").join(SOURCE_DIR)
    }

    /// The build directory of one kernel and compiler.
    pub fn build_dir(&self, kernel: &str, cc: &str) -> PathBuf {
        self.root.join("build").join(format!("{kernel}-{cc}"))
    }

    fn pristine(&self) -> PathBuf {
        self.root.join("pristine")
    }

    /// Takes the cache lock (waits for another lab run to finish).
    pub fn lock(&self) -> Result<Lock, Trouble> {
        use std::os::fd::AsRawFd;
        fs::create_dir_all(&self.root)
            .map_err(|e| Trouble(format!("{}: {e}", self.root.display())))?;
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("lock"))
            .map_err(|e| Trouble(format!("lock: {e}")))?;
        // SAFETY: a valid open descriptor.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            eprintln!(
                "lab: waiting for another lab run ({})",
                self.root.join("lock").display()
            );
            // SAFETY: as above.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(Trouble("cannot lock the lab cache".into()));
            }
        }
        Ok(Lock(f))
    }

    /// The source identity (package version and tarball hash), and the
    /// tree unpacked if it is not yet, or was unpacked from another
    /// tarball. `patched_files` are saved as pristine copies.
    pub fn unpack(&self, patched_files: &[String]) -> Result<String, Trouble> {
        let version = Command::new("dpkg-query")
            .args(["-W", "-f=${Version}", SOURCE_PACKAGE])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let tarball =
            fs::read(SOURCE_TARBALL).map_err(|e| Trouble(format!("{SOURCE_TARBALL}: {e}")))?;
        let identity = format!(
            "{SOURCE_PACKAGE} {version} sha256:{}",
            config::sha256_hex(&tarball)
        );
        drop(tarball);
        let stamp = self.root.join("src").join(".regbuf-unpacked");
        let have = fs::read_to_string(&stamp).unwrap_or_default();
        if have.trim() != identity || !self.src().join("Makefile").exists() {
            let t = Instant::now();
            eprintln!(
                "lab: unpacking {SOURCE_TARBALL} into {}",
                self.root.join("src").display()
            );
            let _ = fs::remove_dir_all(self.root.join("src"));
            let _ = fs::remove_dir_all(self.pristine());
            fs::create_dir_all(self.root.join("src"))
                .map_err(|e| Trouble(format!("{}: {e}", self.root.display())))?;
            run_logged(
                Command::new("tar")
                    .arg("xJf")
                    .arg(SOURCE_TARBALL)
                    .arg("-C")
                    .arg(self.root.join("src")),
                None,
            )?;
            fs::write(&stamp, &identity).map_err(|e| Trouble(format!("{e}")))?;
            eprintln!("lab: unpacked in {:.0} s", t.elapsed().as_secs_f64());
        }
        for f in patched_files {
            let keep = self.pristine().join(f);
            if !keep.exists() {
                if let Some(p) = keep.parent() {
                    fs::create_dir_all(p).map_err(|e| Trouble(format!("{e}")))?;
                }
                run_logged(
                    Command::new("cp")
                        .arg("-p")
                        .arg(self.src().join(f))
                        .arg(&keep),
                    None,
                )?;
            }
        }
        Ok(identity)
    }

    /// Puts every pristine file back where its content differs (with its
    /// original modification time).
    pub fn restore(&self, patched_files: &[String]) -> Result<(), Trouble> {
        for f in patched_files {
            let keep = self.pristine().join(f);
            let live = self.src().join(f);
            let same = match (fs::read(&keep), fs::read(&live)) {
                (Ok(a), Ok(b)) => a == b,
                (Err(e), _) => return Err(Trouble(format!("{}: {e}", keep.display()))),
                _ => false,
            };
            if !same {
                run_logged(Command::new("cp").arg("-p").arg(&keep).arg(&live), None)?;
            }
        }
        // patch(1) may leave .orig/.rej files behind on failure.
        for f in patched_files {
            for ext in ["orig", "rej"] {
                let _ = fs::remove_file(self.src().join(format!("{f}.{ext}")));
            }
        }
        Ok(())
    }
}

/// Gives every file under `dir` that also exists under `like` the
/// modification time of its counterpart there.
pub fn backdate_like(dir: &Path, like: &Path) -> Result<(), Trouble> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => return Ok(()),
    };
    for e in entries.flatten() {
        let p = e.path();
        let q = like.join(e.file_name());
        let (Ok(pm), Ok(qm)) = (fs::symlink_metadata(&p), fs::symlink_metadata(&q)) else {
            continue;
        };
        if pm.is_dir() && qm.is_dir() {
            backdate_like(&p, &q)?;
        } else if pm.is_file() && qm.is_file() {
            let t = qm
                .modified()
                .map_err(|e| Trouble(format!("{}: {e}", q.display())))?;
            fs::File::options()
                .write(true)
                .open(&p)
                .and_then(|f| f.set_modified(t))
                .map_err(|e| Trouble(format!("{}: {e}", p.display())))?;
        }
    }
    Ok(())
}

/// Files a patch touches (`+++ b/PATH` lines).
pub fn patched_files(patch: &str) -> Vec<String> {
    patch
        .lines()
        .filter_map(|l| l.strip_prefix("+++ "))
        .map(|p| {
            let p = p.split('\t').next().unwrap_or(p).trim();
            p.strip_prefix("b/").unwrap_or(p).to_string()
        })
        .collect()
}

/// Applies a patch in `src`, after checking with `--dry-run` that it applies.
pub fn apply(src: &Path, name: &str, text: &str) -> Result<(), Trouble> {
    for dry in [true, false] {
        let mut c = Command::new("patch");
        c.current_dir(src).args(["-p1", "--forward", "--batch"]);
        if dry {
            c.arg("--dry-run");
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Trouble(format!("patch: {e}")))?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped");
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| Trouble(format!("patch: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Trouble(format!("patch: {e}")))?;
        if !out.status.success() {
            return Err(Trouble(format!(
                "{name} does not apply to {} ({}):\n{}{}",
                src.display(),
                if dry {
                    "patch -p1 --dry-run"
                } else {
                    "patch -p1"
                },
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    Ok(())
}

/// How to build.
#[derive(Clone, Debug)]
pub struct BuildOpts {
    /// `gcc` or `clang`.
    pub cc: String,
    /// The configuration fragment's text.
    pub fragment: String,
    /// `make -j` value.
    pub jobs: usize,
}

/// The compiler's first version line (part of the cache key).
pub fn cc_version(cc: &str) -> Result<String, String> {
    let o = Command::new(cc)
        .arg("--version")
        .output()
        .map_err(|e| format!("{cc}: {e}"))?;
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string())
}

fn make(src: &Path, dir: &Path, cc: &str) -> Command {
    let mut c = Command::new("make");
    c.arg("-C")
        .arg(src)
        .arg(format!("O={}", dir.display()))
        .arg("ARCH=x86_64");
    if cc != "gcc" {
        c.arg(format!("CC={cc}"));
    }
    c
}

/// The cache key of a kernel with `patches` (name, text).
pub fn key(
    patches: &[(String, String)],
    source_identity: &str,
    o: &BuildOpts,
) -> Result<String, Trouble> {
    let cc_line = cc_version(&o.cc).map_err(Trouble)?;
    let texts: Vec<String> = patches.iter().map(|(_, t)| t.clone()).collect();
    Ok(config::cache_key(&KeyParts {
        source: source_identity,
        fragment: &o.fragment,
        patches: &texts,
        cc: &format!("{} {cc_line}", o.cc),
        recipe: RECIPE,
    }))
}

/// Whether the build directory of `kernel` holds a finished build with `key`.
pub fn is_current(cache: &Cache, kernel: &str, cc: &str, key: &str) -> bool {
    let dir = cache.build_dir(kernel, cc);
    fs::read_to_string(dir.join(".regbuf-key")).ok().as_deref() == Some(key)
        && dir.join("arch/x86/boot/bzImage").exists()
}

/// Builds (or reuses) one kernel. `patches` are (name, text) in order.
/// With `seed_from` (a current base build of the same source, fragment
/// and compiler), a kernel that needs building starts from a copy of it.
pub fn build(
    cache: &Cache,
    k: &KernelVariant,
    patches: &[(String, String)],
    all_patched: &[String],
    source_identity: &str,
    o: &BuildOpts,
    seed_from: Option<&Path>,
) -> Result<Built, Trouble> {
    let key = key(patches, source_identity, o)?;
    let dir = cache.build_dir(k.name, &o.cc);
    let bz = dir.join("arch/x86/boot/bzImage");
    let stamp = dir.join(".regbuf-key");
    let mut built = Built {
        name: k.name.to_string(),
        bzimage: bz.clone(),
        dir: dir.clone(),
        key: key.clone(),
        reused: false,
        build_secs: 0.0,
        seeded_from_base: false,
        cc: o.cc.clone(),
    };
    if fs::read_to_string(&stamp).ok().as_deref() == Some(key.as_str()) && bz.exists() {
        built.reused = true;
        eprintln!("lab: {} ({}): reusing {}", k.name, o.cc, bz.display());
        return Ok(built);
    }
    let t = Instant::now();
    let src = cache.src();
    cache.restore(all_patched)?;
    let result = (|| {
        for (name, text) in patches {
            apply(&src, name, text)?;
        }
        if let Some(base_dir) = seed_from.filter(|b| *b != dir.as_path()) {
            eprintln!(
                "lab: {}: starting from a copy of {}",
                k.name,
                base_dir.display()
            );
            let _ = fs::remove_dir_all(&dir);
            run_logged(Command::new("cp").arg("-a").arg(base_dir).arg(&dir), None)?;
            let _ = fs::remove_file(&stamp);
            built.seeded_from_base = true;
        }
        fs::create_dir_all(&dir).map_err(|e| Trouble(format!("{}: {e}", dir.display())))?;
        let _ = fs::remove_file(&stamp);
        let log = dir.join("regbuf-build.log");
        let _ = fs::remove_file(&log);
        eprintln!(
            "lab: {} ({}): configuring and building in {} (log: {})",
            k.name,
            o.cc,
            dir.display(),
            log.display()
        );
        run_logged(make(&src, &dir, &o.cc).arg("tinyconfig"), Some(&log))?;
        let dot = dir.join(".config");
        let mut text = fs::read_to_string(&dot).map_err(|e| Trouble(format!("{e}")))?;
        text.push_str("\n# regbuf-fuzz lab fragment\n");
        text.push_str(&o.fragment);
        fs::write(&dot, text).map_err(|e| Trouble(format!("{e}")))?;
        run_logged(make(&src, &dir, &o.cc).arg("olddefconfig"), Some(&log))?;
        let got = fs::read_to_string(&dot).map_err(|e| Trouble(format!("{e}")))?;
        let bad = config::check(&o.fragment, &got);
        if !bad.is_empty() {
            return Err(Trouble(format!(
                "{}: options of lab/config/ that olddefconfig did not keep ({}):\n  {}",
                k.name,
                dot.display(),
                bad.join("\n  ")
            )));
        }
        if built.seeded_from_base {
            // objtool is built by the tools/ build system with absolute
            // paths, so the copy rebuilds it; every object depends on the
            // objtool binary, so a new one would recompile the whole
            // kernel. Build it first, then give its files the base build's
            // modification times: the same source and flags, only the
            // directory differs.
            run_logged(make(&src, &dir, &o.cc).arg("tools/objtool"), Some(&log))?;
            if let Some(base_dir) = seed_from {
                backdate_like(&dir.join("tools/objtool"), &base_dir.join("tools/objtool"))?;
            }
        }
        run_logged(
            make(&src, &dir, &o.cc)
                .arg(format!("-j{}", o.jobs))
                .arg("bzImage"),
            Some(&log),
        )?;
        Ok(())
    })();
    cache.restore(all_patched)?;
    result?;
    if !bz.exists() {
        return Err(Trouble(format!(
            "{}: make succeeded but there is no {}",
            k.name,
            bz.display()
        )));
    }
    fs::write(&stamp, &key).map_err(|e| Trouble(format!("{e}")))?;
    built.build_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "lab: {} ({}): built in {:.0} s{}",
        k.name,
        o.cc,
        built.build_secs,
        if built.seeded_from_base {
            " (from the base build)"
        } else {
            ""
        }
    );
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patched_files_of_the_lab_patches() {
        let rfc = include_str!("../../lab/patches/6.12/rfc-v1.patch");
        assert_eq!(
            patched_files(rfc),
            vec!["io_uring/memmap.c", "io_uring/memmap.h", "io_uring/rsrc.c"]
        );
        let fix = include_str!("../../lab/patches/6.12/rfc-v1-fixed.patch");
        assert_eq!(patched_files(fix), vec!["io_uring/memmap.c"]);
    }

    #[test]
    fn kernels_map_to_model_variants() {
        for k in KERNELS {
            assert!(crate::variants::by_name(k.model).is_some(), "{}", k.model);
        }
        assert_eq!(kernel("rfc-v1-fixed").unwrap().patches.len(), 2);
        assert!(kernel("nope").is_none());
    }

    #[test]
    fn patches_apply_to_the_six_twelve_functions_when_the_source_is_here() {
        // The lab's real check is `patch --dry-run` on the unpacked tree;
        // here, where the package is installed, the same on the three files.
        let tarball = Path::new(SOURCE_TARBALL);
        if !tarball.exists() {
            eprintln!("skipped: {SOURCE_TARBALL} not installed");
            return;
        }
        let dir = std::env::temp_dir().join(format!("regbuf-lab-patch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("tar")
            .current_dir(&dir)
            .args(["xJf", SOURCE_TARBALL, "--strip-components=1"])
            .args([
                "linux-source-6.12/io_uring/rsrc.c",
                "linux-source-6.12/io_uring/memmap.c",
                "linux-source-6.12/io_uring/memmap.h",
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        apply(
            &dir,
            "rfc-v1.patch",
            include_str!("../../lab/patches/6.12/rfc-v1.patch"),
        )
        .unwrap();
        apply(
            &dir,
            "rfc-v1-fixed.patch",
            include_str!("../../lab/patches/6.12/rfc-v1-fixed.patch"),
        )
        .unwrap();
        let memmap = fs::read_to_string(dir.join("io_uring/memmap.c")).unwrap();
        assert!(memmap.contains("pages[nr_pages - 1] == pages[0] + nr_pages - 1"));
        // Applying twice is refused (the tree is then not pristine).
        assert!(apply(
            &dir,
            "rfc-v1.patch",
            include_str!("../../lab/patches/6.12/rfc-v1.patch")
        )
        .is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
