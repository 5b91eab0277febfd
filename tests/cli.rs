//! The `regbuf-fuzz` binary's exit codes, as diff(1): 0 no finding, 1 a
//! finding, 2 trouble; run as a user would, through `std::process::Command`.
//! Also the corpus harness (tests/corpus.rs) on a temporary corpus.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ALIASED: &str = "format = 1\ngeometry = \"real\"\nnote = \"One hugetlb page mapped at two adjacent addresses.\"\n\
    [[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n\
    [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 2097152 } }]\n";

const CLEAN: &str = "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n\
    [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 4660 }, end = { seg = 0, off = 1048576 } }]\n";

const ALIASED_EXPECT: &str =
    "[expect]\nupstream = []\nrfc-v1 = [\"rfc-v1:diff:coverage\", \"rfc-v1:invariant:coverage/length\", \"rfc-v1:invariant:import/bvec-out-of-bounds\"]\n";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_regbuf-fuzz"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh temporary directory for one test.
fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("regbuf-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, body).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn bad_flags_are_trouble() {
    let o = run(&["--bogus"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = run(&["replay", "--bogus", "x.toml"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = run(&[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = run(&["--help"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn an_unknown_variant_is_trouble_and_lists_the_known_ones() {
    let d = tmpdir("unknown-variant");
    let f = write(&d, "clean.toml", CLEAN.as_bytes());
    for args in [
        vec!["replay", s(&f), "--variant", "rfc-v9"],
        vec![
            "replay",
            s(&f),
            "--variant",
            "upstream",
            "--against",
            "nope",
        ],
        vec!["explain", s(&f), "--variant", "rfc-v9"],
        vec!["minimize", s(&f), "--variant", "rfc-v9"],
        vec!["fuzz", "--variant", "rfc-v9", "--runs", "1"],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("upstream") && err.contains("rfc-v1"),
            "{args:?}: {}",
            text(&o)
        );
    }
}

#[test]
fn garbage_and_malformed_files_are_trouble_naming_file_field_reason() {
    let d = tmpdir("garbage");
    let g = write(
        &d,
        "garbage.toml",
        &[0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x13],
    );
    for cmd in ["replay", "explain", "minimize"] {
        let o = run(&[cmd, s(&g)]);
        assert_eq!(code(&o), 2, "{cmd}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("garbage.toml"),
            "{cmd}: {}",
            text(&o)
        );
    }
    let m = write(
        &d,
        "missing-folio.toml",
        ALIASED
            .replace(
                "[[segment]]\nfolio = 0\n[[op]]",
                "[[segment]]\nfolio = 7\n[[op]]",
            )
            .as_bytes(),
    );
    let o = run(&["replay", s(&m), "--variant", "upstream"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("missing-folio.toml")
            && err.contains("segment[1].folio")
            && err.contains("does not exist"),
        "{}",
        text(&o)
    );
    let o = run(&["replay", s(&d.join("absent.toml"))]);
    assert_eq!(code(&o), 2, "{}", text(&o));
}

#[test]
fn a_clean_scenario_replayed_for_upstream_exits_0() {
    let d = tmpdir("clean");
    let f = write(&d, "clean.toml", CLEAN.as_bytes());
    let o = run(&["replay", s(&f), "--variant", "upstream"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = run(&["replay", s(&f), "--variant", "rfc-v1"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Without --variant a file needs an `expect` table.
    let o = run(&["replay", s(&f)]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("expect"),
        "{}",
        text(&o)
    );
    let f = write(
        &d,
        "clean-expect.toml",
        format!("{CLEAN}[expect]\nupstream = []\nrfc-v1 = []\n").as_bytes(),
    );
    let o = run(&["replay", s(&f)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("matches expected"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_aliased_scenario_on_rfc_v1_exits_1_and_ends_with_a_replay_command() {
    let d = tmpdir("aliased");
    let f = write(&d, "aliased.toml", ALIASED.as_bytes());
    let o = run(&["replay", s(&f), "--variant", "rfc-v1"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("rfc-v1:invariant:coverage/length"),
        "{}",
        text(&o)
    );
    let last = out.lines().last().unwrap_or_default().trim();
    assert_eq!(
        last,
        format!("regbuf-fuzz replay {} --variant rfc-v1", s(&f)),
        "{}",
        text(&o)
    );

    // With the expect table: matches, still exit 1 (a finding is present).
    let f = write(
        &d,
        "aliased-expect.toml",
        format!("{ALIASED}{ALIASED_EXPECT}").as_bytes(),
    );
    let o = run(&["replay", s(&f)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("upstream   matches expected") && out.contains("rfc-v1     matches expected"),
        "{}",
        text(&o)
    );
    assert!(
        out.lines()
            .last()
            .unwrap()
            .trim()
            .starts_with("regbuf-fuzz replay "),
        "{}",
        text(&o)
    );

    // A changed expectation is reported.
    let f = write(
        &d,
        "aliased-wrong.toml",
        format!("{ALIASED}[expect]\nrfc-v1 = []\n").as_bytes(),
    );
    let o = run(&["replay", s(&f)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("DIFFERS from expected"),
        "{}",
        text(&o)
    );
}

#[test]
fn replay_walks_directories_and_speaks_json() {
    let d = tmpdir("json");
    write(
        &d,
        "a/aliased.toml",
        format!("{ALIASED}{ALIASED_EXPECT}").as_bytes(),
    );
    write(
        &d,
        "b/clean.toml",
        format!("{CLEAN}[expect]\nupstream = []\n").as_bytes(),
    );
    write(&d, "b/notes.md", b"not a scenario");
    let o = run(&["replay", s(&d), "--json"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", text(&o));
    assert!(lines.iter().all(|l| l["matches"] == true), "{}", text(&o));
    let rfc = lines.iter().find(|l| l["variant"] == "rfc-v1").unwrap();
    assert_eq!(rfc["findings"][0]["kind"]["name"][0], "coverage");
    assert!(rfc["replay"]
        .as_str()
        .unwrap()
        .starts_with("regbuf-fuzz replay "));
}

#[test]
fn explain_draws_the_aliased_page_and_minimize_shrinks_to_real_geometry() {
    let d = tmpdir("explain");
    let f = write(
        &d,
        "aliased.toml",
        format!("{ALIASED}{ALIASED_EXPECT}").as_bytes(),
    );
    let o = run(&["explain", s(&f)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("rfc-v1 against upstream")
            && out.contains("ALIASED")
            && out.contains("bvec[1]"),
        "{out}"
    );
    assert_eq!(
        out.lines().last().unwrap(),
        format!("regbuf-fuzz replay {} --variant rfc-v1", s(&f))
    );

    // A small-geometry scenario with junk: minimized, moved to real geometry, expect filled.
    let small = "format = 1\ngeometry = \"small\"\n[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
        [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[segment]]\nfolio = 1\n\
        [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 1, off = 0 }, end = { seg = 2, off = 32768 } }]\n\
        [[op]]\nop = \"unregister\"\n";
    let f = write(&d, "small.toml", small.as_bytes());
    let out_path = d.join("min.toml");
    let o = run(&["minimize", s(&f), "--variant", "rfc-v1", "-o", s(&out_path)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("before:") && stdout.contains("after:"),
        "{}",
        text(&o)
    );
    let min = regbuf_fuzz::corpus::load(&out_path).expect("the minimized file loads");
    assert_eq!(min.geometry, regbuf_fuzz::scenario::GeometryName::Real);
    assert_eq!(
        (min.size().folios, min.size().ops),
        (1, 1),
        "{}",
        min.to_toml()
    );
    assert!(min
        .expect
        .get("rfc-v1")
        .is_some_and(|e| e.contains(&"rfc-v1:invariant:coverage/length".to_string())));
    assert_eq!(min.expect.get("upstream"), Some(&vec![]));
    // The result replays as it says.
    let o = run(&["replay", s(&out_path)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("DIFFERS"),
        "{}",
        text(&o)
    );
}

#[test]
fn fuzz_hands_its_flags_to_the_campaign() {
    let d = tmpdir("fuzz");
    let o = run(&[
        "fuzz",
        "--runs",
        "40",
        "--jobs",
        "1",
        "--seed",
        "1",
        "--json",
        "--out",
        s(&d),
    ]);
    assert!(matches!(code(&o), 0 | 1), "{}", text(&o));
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
    let o = run(&["fuzz", "--runs", "1", "--time", "1"]);
    assert_eq!(
        code(&o),
        2,
        "--runs and --time exclude each other: {}",
        text(&o)
    );
}

#[test]
fn seed_corpus_writes_byte_inputs_that_import_artifact_turns_into_findings() {
    let d = tmpdir("seed-corpus");
    let o = run(&["seed-corpus", "--runs", "20", "--seed", "2", "-o", s(&d)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let input = d.join("rfc-v1--invariant-coverage-length");
    assert!(input.is_file(), "{}", text(&o));
    let o = run(&[
        "import-artifact",
        s(&input),
        "--variant",
        "rfc-v1",
        "-o",
        s(&d),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(d.join("rfc-v1--invariant-coverage-length.toml").is_file());
}

#[test]
fn list_names_variants_and_invariants() {
    let o = run(&["list"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for name in [
        "upstream",
        "rfc-v1",
        "coverage",
        "teardown",
        "io_release_ubuf",
    ] {
        assert!(out.contains(name), "{name}: {out}");
    }
}

/// Every overridable function has its own line under its heading.
#[test]
fn list_shows_every_overridable_function() {
    let o = run(&["list"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let hooks: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("OVERRIDABLE FUNCTIONS"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(hooks, regbuf_fuzz::variants::HOOKS);
}

#[test]
fn list_shows_every_geometry_with_its_sizes() {
    let o = run(&["list"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for (name, sizes) in [
        ("real", "PMD folios 2 MiB"),
        ("small", "PMD folios 32 KiB"),
        ("arm64-4k", "cont-PTE 64 KiB"),
        ("arm64-16k", "cont-PMD 1 GiB"),
        ("arm64-64k", "PMD folios 512 MiB"),
        ("ppc64-radix", "PUD folios 1 GiB"),
        ("ppc64-hash", "PUD folios 16 GiB"),
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"));
        assert!(line.contains(sizes), "{name}: {line}");
    }
    let line = |n: &str| out.lines().find(|l| l.trim_start().starts_with(n)).unwrap();
    assert!(line("arm64-64k ").contains("no PUD folio"), "{out}");
}

#[test]
fn fuzz_takes_a_geometry_and_refuses_an_unknown_one() {
    let o = run(&["fuzz", "--geometry", "sparc", "--runs", "1"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("arm64-64k"), "{}", text(&o));
    let o = run(&[
        "fuzz",
        "--variant",
        "upstream",
        "--against",
        "upstream",
        "--geometry",
        "arm64-16k",
        "--runs",
        "50",
        "--jobs",
        "1",
        "--seed",
        "3",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn repro_and_live_refuse_another_architectures_file() {
    let f = "corpus/seeds/arch/arm64-64k.toml";
    for cmd in [&["repro", f][..], &["live", f][..]] {
        let o = run(cmd);
        assert_ne!(code(&o), 0, "{cmd:?}: {}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("arm64-64k.toml") && t.contains("field `geometry`"),
            "{cmd:?}: {t}"
        );
    }
}

/// The corpus harness itself, on a temporary corpus: one trial per file,
/// a changed verdict fails its trial, and no files is 0 trials and a pass.
#[test]
fn the_corpus_harness_makes_one_trial_per_file() {
    let harness = Path::new(env!("CARGO_BIN_EXE_regbuf-fuzz"))
        .parent()
        .and_then(|p| std::fs::read_dir(p.join("deps")).ok())
        .and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    n.starts_with("corpus-") && p.extension().is_none() && p.is_file()
                })
                .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        });
    let Some(harness) = harness else {
        eprintln!("corpus harness binary not built (run `cargo test` for all targets); skipping");
        return;
    };
    let d = tmpdir("harness");
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = Command::new(&harness)
        .env("REGBUF_CORPUS_DIR", &empty)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 passed"),
        "{}",
        text(&o)
    );

    let corpus = d.join("corpus");
    write(
        &corpus,
        "rfc-v1/aliased.toml",
        format!("{ALIASED}{ALIASED_EXPECT}").as_bytes(),
    );
    write(
        &corpus,
        "rfc-v1/changed.toml",
        format!("{ALIASED}[expect]\nrfc-v1 = [\"rfc-v1:invariant:pins\"]\n").as_bytes(),
    );
    let o = Command::new(&harness)
        .env("REGBUF_CORPUS_DIR", &corpus)
        .output()
        .unwrap();
    assert_ne!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("rfc-v1/aliased.toml ... ok"), "{}", text(&o));
    assert!(
        out.contains("rfc-v1/changed.toml ... FAILED"),
        "{}",
        text(&o)
    );
    assert!(
        out.contains("expected: [\"rfc-v1:invariant:pins\"]"),
        "{}",
        text(&o)
    );
    assert!(out.contains("replay: regbuf-fuzz replay"), "{}", text(&o));
    assert!(out.contains("1 passed; 1 failed"), "{}", text(&o));
}

/// 7.1's RLIMIT_MEMLOCK bypass is a known bug of upstream: set aside (and
/// said so) by default, a finding with --known, for replay, explain and fuzz.
#[test]
fn known_bugs_are_set_aside_unless_asked_for() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/seeds/history/rlimit-bypass-headpage-already-acct.toml");
    let o = run(&["replay", s(&seed), "--variant", "upstream"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("1 known bug set aside"), "{}", text(&o));
    assert!(
        text(&o).contains("[known bug, fixed by df0a52537c0f (7.2)]"),
        "{}",
        text(&o)
    );
    let o = run(&["replay", s(&seed), "--variant", "upstream", "--known"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // The file's own table: 7.1 and the RFC variants show nothing but the
    // known bug; one historical revert (a23800f08a60's nr_segs) has a real
    // finding on this layout, so the status is 1.
    let o = run(&["replay", s(&seed)]);
    let t = text(&o);
    assert_eq!(code(&o), 1, "{t}");
    assert!(!t.contains("DIFFERS"), "{t}");
    for (variant, verdict) in [
        (
            "upstream",
            "matches expected: no finding, 1 known bug set aside",
        ),
        (
            "rfc-v1",
            "matches expected: no finding, 2 known bugs set aside",
        ),
        ("pre-a23800f08a60", "matches expected: 1 finding"),
    ] {
        assert!(
            t.lines().any(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some(variant) && w.collect::<Vec<_>>().join(" ").starts_with(verdict)
            }),
            "no {variant} {verdict:?} in {t}"
        );
    }
    let o = run(&["explain", s(&seed), "--variant", "upstream"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("KNOWN BUGS (1"), "{}", text(&o));
    let o = run(&["explain", s(&seed), "--variant", "upstream", "--known"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let f = [
        "fuzz",
        "--variant",
        "upstream",
        "--against",
        "upstream",
        "--seed",
        "1",
        "--runs",
        "3000",
        "--jobs",
        "1",
    ];
    let o = run(&f);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("known-bug findings suppressed (accounting/uncharged-pins"),
        "{}",
        text(&o)
    );
    let o = run(&[&f[..], &["--known"]].concat());
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("finding: upstream:invariant:accounting/uncharged-pins (known bug, fixed by df0a52537c0f (7.2)"),
        "{}",
        text(&o)
    );
}

/// `--version` names the kernels modelled, and its count of reverted fixes
/// is the number of historical variants.
#[test]
fn version_names_the_kernels_modelled() {
    let o = run(&["--version"]);
    assert_eq!(code(&o), 0);
    let t = text(&o);
    for k in [
        "7.1-rc1",
        "650303626be6",
        "Linux 7.2",
        "3996771b8f75",
        "RFC v1",
    ] {
        assert!(t.contains(k), "{k} missing: {t}");
    }
    let n = regbuf_fuzz::variants::history::HISTORY.len();
    assert!(
        t.contains(&format!("and {n} upstream fixes reverted")),
        "{t}"
    );
}

/// Shell completions and the man page come from the same clap
/// definitions as `--help`: every subcommand is in them.
#[test]
fn completions_and_the_man_page_cover_every_subcommand() {
    let bash = run(&["completions", "bash"]);
    assert_eq!(code(&bash), 0);
    let man = run(&["man"]);
    assert_eq!(code(&man), 0);
    let (bash, man) = (text(&bash), text(&man));
    assert!(
        man.contains(".TH regbuf-fuzz 1") && man.contains(".SH SUBCOMMANDS"),
        "{man}"
    );
    for sub in [
        "fuzz", "replay", "minimize", "explain", "repro", "live", "list", "exhaust",
    ] {
        assert!(bash.contains(sub), "completions lack {sub}");
        assert!(
            man.contains(&format!("regbuf\\-fuzz\\-{sub}(1)")),
            "man lacks {sub}"
        );
    }
    assert!(
        bash.contains("--stop-on-first"),
        "completions lack the flags"
    );
    assert_eq!(
        code(&run(&["completions", "tcsh"])),
        2,
        "an unknown shell is a usage error"
    );
}

#[test]
fn tree_flags_without_a_usable_tree_are_trouble_naming_the_file() {
    let o = run(&["tree"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("--tree"), "{}", text(&o));
    let o = run(&["fuzz", "--patch", "x.patch"]);
    assert_eq!(code(&o), 2, "a patch needs a tree: {}", text(&o));
    let d = tmpdir("no-tree");
    let o = run(&[
        "replay",
        "corpus/seeds",
        "--tree",
        s(&d),
        "--variant",
        "tree",
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("io_uring/rsrc.c") && text(&o).contains("cannot read"),
        "{}",
        text(&o)
    );
    // Without --tree the name is reserved, not a variant that exists.
    let o = run(&["replay", "corpus/seeds", "--variant", "tree"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("give --tree DIR") && !text(&o).contains("internal error"),
        "{}",
        text(&o)
    );
    let o = run(&["fuzz", "--variant=tree+patch", "--tree", s(&d)]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("needs at least one --patch"),
        "{}",
        text(&o)
    );
}
