//! `regbuf-fuzz exhaust`: a small bound finds every RFC v1 finding of the
//! corpus and nothing for upstream or the corrected fast path; the space has
//! the size the arithmetic says; symmetry reduction keeps every finding; the
//! output does not depend on `--jobs`; bad bounds are trouble naming the flag.

use regbuf_fuzz::exhaust::space::{Kind, Offsets};
use regbuf_fuzz::exhaust::{run, Bound, Config, Counts, PairSpans, Report};
use regbuf_fuzz::variants::by_name;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The four RFC v1 findings of `corpus/findings/rfc-v1/`.
const RFC_V1: [&str; 4] = [
    "rfc-v1:invariant:coverage/length",
    "rfc-v1:invariant:coverage/outside-pins",
    "rfc-v1:invariant:pins/count",
    "rfc-v1:invariant:pins/underflow",
];

/// Three chunks of whole hugetlb pages, shmem pages or holes, two folios:
/// the smallest bound with room for a hugetlb page, something else, and the
/// same hugetlb page again (F, G, F), which the pins findings need.
fn small() -> Bound {
    Bound {
        chunks: 3,
        folios: 2,
        kinds: vec![Kind::Hugetlb, Kind::Small],
        cuts: vec![],
        max_len_pages: 24,
        offsets: Offsets::Page,
        buffers: 2,
        pair_spans: PairSpans::Chunk,
        faults: true,
        reduce: true,
    }
}

fn search(variant: &str, against: &str, bound: Bound, jobs: usize) -> Report {
    run(&Config {
        variant: by_name(variant).unwrap(),
        against: by_name(against).unwrap(),
        bound,
        jobs,
        progress: false,
        stop_on_first: false,
    })
}

fn signatures(r: &Report) -> BTreeSet<&str> {
    r.found.iter().map(|f| f.signature.as_str()).collect()
}

#[test]
fn a_small_bound_finds_every_rfc_v1_finding_of_the_corpus() {
    let r = search("rfc-v1", "upstream", small(), 2);
    assert_eq!(signatures(&r), RFC_V1.into_iter().collect());
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/findings/rfc-v1");
    for sig in RFC_V1 {
        let file = corpus.join(regbuf_fuzz::campaign::file_name("rfc-v1", sig));
        assert!(
            file.exists(),
            "{} is the corpus file of {sig}",
            file.display()
        );
    }
    for f in &r.found {
        assert!(f.count > 0, "{}", f.signature);
        assert_eq!(
            f.scenario.geometry,
            regbuf_fuzz::scenario::GeometryName::Small
        );
    }
}

#[test]
fn upstream_and_the_corrected_fast_path_are_clean_at_that_bound() {
    for (v, against) in [("upstream", "upstream"), ("rfc-v1-fixed", "upstream")] {
        let r = search(v, against, small(), 2);
        assert!(r.found.is_empty(), "{v}: {:?}", signatures(&r));
        assert!(r.executed > r.fault_free && r.fault_free == r.counts.reduced);
    }
}

/// One chunk or two, hugetlb pages only, page-aligned buffers, one-buffer
/// programs, no faults: small enough to count by hand.
fn tiny(chunks: u8, folios: u8, offsets: Offsets) -> Bound {
    Bound {
        chunks,
        folios,
        kinds: vec![Kind::Hugetlb],
        cuts: vec![1, 4, 7],
        max_len_pages: chunks * 8,
        offsets,
        buffers: 1,
        pair_spans: PairSpans::Chunk,
        faults: false,
        reduce: true,
    }
}

#[test]
fn the_space_of_a_tiny_bound_has_the_size_the_arithmetic_says() {
    // A chunk is a hole or a hugetlb page (a hugetlb page has no pieces, so
    // no cut applies). Spans of 8 pages: 8 + 7 + ... + 1 = 36; of 16: 136.
    //
    // Two chunks, one folio: layouts (hole, hole), (hole, F), (F, hole),
    // (F, F): 4 × 136 = 544 scenarios.
    // Translation: the two layouts starting with a hole, buffers wholly in
    // chunk 1: 2 × 36 = 72.
    // Window (page before and after the buffer included):
    // - (hole, F), buffers ending by page 7: the window is all holes, as in
    //   (hole, hole): spans inside pages 0..7, 7 + 6 + ... + 1 = 28;
    // - (F, hole), buffers starting at page 9 or later: all holes again,
    //   as (hole, hole) one chunk left: 28;
    // - (F, F), buffers ending by page 7 or starting at page 9 or later:
    //   the window of (F, hole) at the same place (or one chunk left): 28 + 28.
    // Left: 544 - 72 - 112 = 360.
    let r = search("upstream", "upstream", tiny(2, 1, Offsets::Page), 2);
    assert_eq!(
        r.counts,
        Counts {
            layouts: 4,
            enumerated: 544,
            relabelling: 0,
            translation: 72,
            window: 112,
            reduced: 360,
        }
    );
    assert_eq!((r.executed, r.fault_free), (360, 360));

    // One chunk, up to two folios: layouts (hole) and (F); F can be named
    // 0 or 1, so the space is (1 + 2) × 36 = 108 and relabelling takes 36.
    let r = search("upstream", "upstream", tiny(1, 2, Offsets::Page), 1);
    assert_eq!(
        (r.counts.enumerated, r.counts.relabelling, r.counts.reduced),
        (108, 36, 72)
    );

    // Edge offsets: a one-page buffer has 6 of the 3 × 3 offset pairs (it
    // must end after it starts: not (1, 1), (4095, 1), (4095, 4095)), a
    // longer one all 9: 8 × 6 + 28 × 9 = 300 per layout, 600 in all, and no
    // two windows alike.
    let r = search("upstream", "upstream", tiny(1, 1, Offsets::Edge), 2);
    assert_eq!((r.counts.enumerated, r.counts.reduced), (600, 600));
}

#[test]
fn symmetry_reduction_keeps_every_finding() {
    let unreduced = Bound {
        reduce: false,
        ..small()
    };
    let with = search("rfc-v1", "upstream", small(), 2);
    let without = search("rfc-v1", "upstream", unreduced, 2);
    assert_eq!(signatures(&with), signatures(&without));
    assert_eq!(without.counts.reduced, without.counts.enumerated);
    assert_eq!(with.counts.enumerated, without.counts.enumerated);
    assert!(with.counts.reduced * 3 < without.counts.reduced);
}

#[test]
fn stopping_at_the_first_finding_stops_at_the_same_one_whatever_the_workers() {
    let first = |jobs| {
        let r = run(&Config {
            variant: by_name("rfc-v1").unwrap(),
            against: by_name("upstream").unwrap(),
            bound: small(),
            jobs,
            progress: false,
            stop_on_first: true,
        });
        assert_eq!(r.found.len(), 1);
        (
            r.found[0].signature.clone(),
            r.found[0].description.clone(),
            r.executed,
        )
    };
    let one = first(1);
    assert_eq!(one.0, "rfc-v1:invariant:coverage/length");
    assert_eq!(one, first(2));
}

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regbuf-fuzz"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A temporary directory for one test, named `name`.
fn dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("regbuf-exhaust-{}-{name}", std::process::id()))
}

/// [`dir`], emptied.
fn tmpdir(name: &str) -> PathBuf {
    let d = dir(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

const SMALL: [&str; 16] = [
    "exhaust",
    "--chunks",
    "3",
    "--folios",
    "2",
    "--kinds",
    "small,hugetlb",
    "--cuts",
    "none",
    "--offsets",
    "page",
    "--buffers",
    "2",
    "--faults",
    "single",
    "--variant=rfc-v1",
];

#[test]
fn the_same_bound_gives_the_same_output_and_files_whatever_the_workers() {
    // What one run printed, and the files it wrote (name, contents).
    type Written = (Output, Vec<(String, Vec<u8>)>);
    let outs: Vec<Written> = ["1", "2"]
        .iter()
        .map(|jobs| {
            let d = tmpdir(&format!("jobs{jobs}"));
            let mut args = SMALL.to_vec();
            args.extend(["--jobs", jobs, "--out", d.to_str().unwrap()]);
            let o = bin(&args);
            assert_eq!(o.status.code(), Some(1), "{}", text(&o));
            let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| {
                    let p = e.unwrap().path();
                    (
                        p.file_name().unwrap().to_string_lossy().into_owned(),
                        std::fs::read(&p).unwrap(),
                    )
                })
                .collect();
            files.sort();
            // Outputs name their own directory; compare them without it.
            let stdout = String::from_utf8(o.stdout.clone())
                .unwrap()
                .replace(d.to_str().unwrap(), "DIR");
            (
                Output {
                    stdout: stdout.into_bytes(),
                    ..o
                },
                files,
            )
        })
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&outs[0].0.stdout),
        String::from_utf8_lossy(&outs[1].0.stdout)
    );
    assert_eq!(outs[0].1, outs[1].1);
    assert_eq!(outs[0].1.len(), 4);

    // Every finding's report ends with the command that replays its file,
    // and that command shows the finding.
    let stdout = String::from_utf8_lossy(&outs[0].0.stdout).into_owned();
    let mut blocks: Vec<Vec<&str>> = vec![];
    for line in stdout.lines() {
        if line.starts_with("finding: ") {
            blocks.push(vec![line]);
        } else if line.starts_with("  ") {
            blocks
                .last_mut()
                .expect("indented lines follow a finding")
                .push(line);
        }
    }
    assert_eq!(blocks.len(), 4, "{stdout}");
    let d = dir("jobs1");
    for b in blocks {
        let sig = b[0].trim_start_matches("finding: ");
        let last = b.last().unwrap();
        let cmd = last.strip_prefix("  replay: ").expect(last);
        let args: Vec<String> = cmd
            .split_whitespace()
            .skip(1)
            .map(|a| a.replace("DIR", d.to_str().unwrap()))
            .collect();
        let o = Command::new(env!("CARGO_BIN_EXE_regbuf-fuzz"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{cmd}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(sig),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn upstream_against_itself_exits_0() {
    let mut args = SMALL.to_vec();
    args[15] = "--variant=upstream";
    let d = tmpdir("clean");
    args.extend(["--out", d.to_str().unwrap(), "--json"]);
    let o = bin(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["distinct_findings"], 0);
    assert!(summary["executed"].as_u64().unwrap() > 10_000);
    assert!(!d.exists(), "no finding, no directory");
}

#[test]
fn bad_bounds_are_trouble_naming_the_flag_and_why() {
    for (args, flag, why) in [
        (vec!["--chunks", "9"], "--chunks", "1..=4"),
        (vec!["--chunks", "0"], "--chunks", "1..=4"),
        (vec!["--folios", "4"], "--folios", "1..=3"),
        (vec!["--max-len-pages", "30"], "--max-len-pages", "24 pages"),
        (vec!["--max-len-pages", "0"], "--max-len-pages", "1.."),
        (
            vec!["--kinds", "hugetlb,giant"],
            "--kinds",
            "unknown kind `giant`",
        ),
        (vec!["--cuts", "8"], "--cuts", "from 1 to 7"),
        (vec!["--offsets", "odd"], "--offsets", "edge"),
        (vec!["--buffers", "3"], "--buffers", "1..=2"),
        (vec!["--pair-spans", "byte"], "--pair-spans", "chunk"),
        (vec!["--faults", "double"], "--faults", "single"),
        (vec!["--variant", "rfc-v9"], "--variant", "unknown variant"),
    ] {
        let mut all = vec!["exhaust"];
        all.extend(&args);
        let o = bin(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(flag) && err.contains(why), "{args:?}: {err}");
    }
}
