//! The `--json` contract: every line `replay`, `fuzz`, `exhaust`, `live`
//! and `explain` print is checked against its schema under `docs/schema/`
//! (`<command>.<type>.v1.json`, `error.v1.json` for an error line), run as a
//! user would run them on small inputs.
//!
//! The schemas name every field but allow others, since a field may be
//! added within a version; these tests validate against stricter copies
//! that refuse a field the schema does not name, so that a field added to
//! the output and not to the schema (and the book) fails here.

use jsonschema::{Retrieve, Uri, Validator};
use regbuf_fuzz::report::json::{
    Head, LiveDisagreement, LiveScenario, LiveSkip, LiveSummary, LiveTally, LiveVerdict,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema_dir() -> PathBuf {
    root().join("docs/schema")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regbuf-fuzz"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
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

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("regbuf-json-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Adds `additionalProperties: false` to every object schema that names
/// its properties and says nothing about others.
fn strict(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            m.values_mut().for_each(strict);
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

fn load_schema(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    strict(&mut v);
    v
}

/// Serves the `$ref`s between the schema files from `docs/schema/`, made
/// strict the same way, and nothing from anywhere else.
struct SchemaFiles;

impl Retrieve for SchemaFiles {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let path = uri
            .as_str()
            .strip_prefix("file://")
            .map(PathBuf::from)
            .filter(|p| p.starts_with(schema_dir()))
            .ok_or_else(|| format!("not a schema file: {}", uri.as_str()))?;
        Ok(load_schema(&path))
    }
}

fn compile(name: &str) -> Validator {
    jsonschema::options()
        .with_base_uri(format!("file://{}/", s(&schema_dir())))
        .with_retriever(SchemaFiles)
        .build(&load_schema(&schema_dir().join(name)))
        .unwrap_or_else(|e| panic!("docs/schema/{name} does not compile: {e}"))
}

/// Every line schema, compiled once, by file name.
fn validators() -> &'static BTreeMap<String, Validator> {
    static V: OnceLock<BTreeMap<String, Validator>> = OnceLock::new();
    V.get_or_init(|| {
        std::fs::read_dir(schema_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".v1.json") && n != "defs.v1.json")
            .map(|n| (n.clone(), compile(&n)))
            .collect()
    })
}

/// The schema file a line names with its `command`, `type` and `schema`.
fn schema_of(line: &Value) -> Result<String, String> {
    let schema = line["schema"].as_u64().ok_or("no integer `schema` field")?;
    let command = line["command"].as_str().ok_or("no `command` field")?;
    let kind = line["type"].as_str().ok_or("no `type` field")?;
    Ok(if kind == "error" {
        format!("error.v{schema}.json")
    } else {
        format!("{command}.{kind}.v{schema}.json")
    })
}

/// `Ok` when `line` is valid against the schema it names.
fn check(line: &Value) -> Result<(), String> {
    let name = schema_of(line)?;
    let v = validators()
        .get(&name)
        .ok_or_else(|| format!("no schema docs/schema/{name}"))?;
    let errors: Vec<String> = v
        .iter_errors(line)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("against docs/schema/{name}: {}", errors.join("; ")))
    }
}

/// Every line of standard output, each one JSON object valid against its
/// schema.
fn lines(o: &Output) -> Vec<Value> {
    let out = String::from_utf8(o.stdout.clone()).expect("UTF-8");
    assert!(
        out.is_empty() || out.ends_with('\n'),
        "the last line is whole: {}",
        text(o)
    );
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON object: {e}: {l}\n{}", text(o)));
            assert!(v.is_object(), "{l}");
            if let Err(e) = check(&v) {
                panic!("{e}\nline: {l}");
            }
            v
        })
        .collect()
}

fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}

/// `v` without the fields that measure time: what must be the same from
/// run to run.
fn untimed(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("elapsed_s");
        m.remove("cpu_s");
    }
    v
}

const COVERAGE: &str = "corpus/findings/rfc-v1/rfc-v1--invariant-coverage-length.toml";
const HELD: &str = "corpus/seeds/live/held-read-then-update.toml";

#[test]
fn replay_lines_match_their_schema() {
    let d = tmpdir("replay");
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "format = 1\ngeometry = \"sideways\"\n").unwrap();
    let o = run(&["replay", COVERAGE, HELD, s(&bad), "--json"]);
    assert_eq!(code(&o), 2, "an unreadable file is trouble: {}", text(&o));
    let all = lines(&o);
    let results = of_type(&all, "result");
    let names = regbuf_fuzz::variants::names();
    assert_eq!(results.len(), 2 * names.len(), "{}", text(&o));
    assert!(results.iter().all(|r| r["matches"] == true));
    let errors = of_type(&all, "error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["file"], s(&bad));
    assert_eq!(errors[0]["command"], "replay");

    // What the aliased hugetlb page looks like: upstream two bvecs, each
    // pinning the folio; rfc-v1 one, and the coverage finding.
    let rfc = results
        .iter()
        .find(|r| r["file"] == COVERAGE && r["variant"] == "rfc-v1")
        .unwrap();
    let runs = rfc["runs"].as_array().unwrap();
    assert_eq!(
        (&runs[0]["variant"], &runs[1]["variant"]),
        (&"upstream".into(), &"rfc-v1".into())
    );
    let register = |side: usize| &runs[side]["ops"][0];
    assert_eq!(register(0)["kind"], "register");
    assert_eq!(register(0)["ret"], 0);
    assert_eq!(register(0)["buffers"][0]["nr_bvecs"], 2);
    assert_eq!(register(1)["buffers"][0]["nr_bvecs"], 1);
    assert_eq!(register(0)["pin_deltas"][0]["delta"], 2);
    assert_eq!(register(1)["pin_deltas"][0]["delta"], 1);
    assert_eq!(
        runs[0]["ops"].as_array().unwrap().last().unwrap()["kind"],
        "ring_exit"
    );
    let f = &rfc["findings"][0];
    assert_eq!(f["invariant"], "coverage");
    assert_eq!(f["aspect"], "length");
    assert_eq!(f["signature"], "rfc-v1:invariant:coverage/length");
    assert_eq!(f["kind"]["name"][0], "coverage", "the first lines' shape");

    // With --variant: one line, the same shape.
    let o = run(&["replay", COVERAGE, "--variant", "rfc-v1", "--json"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let all = lines(&o);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["expected"].as_array().map(Vec::len), Some(3));
}

/// A kernel buffer's operations and its buffer in the lines: every line
/// valid, the operations by their kinds, the buffer with `ubuf` 0.
#[test]
fn kernel_buffer_replay_lines_match_their_schema() {
    let file = "corpus/seeds/kbuf/kbuf-release-held.toml";
    let o = run(&["replay", file, "--variant", "v7.2", "--json"]);
    let all = lines(&o);
    assert_eq!(all.len(), 1, "{}", text(&o));
    let ops = all[0]["runs"][0]["ops"].as_array().unwrap();
    let kinds: Vec<&str> = ops.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(
        &kinds[..6],
        [
            "register_sparse",
            "kbuf_register",
            "kbuf_import",
            "kbuf_unregister",
            "complete",
            "kbuf_register"
        ]
    );
    let buffer = &ops[1]["buffers"][0];
    assert_eq!(
        (&buffer["slot"], &buffer["ubuf"], &buffer["len"]),
        (&0.into(), &0.into(), &4096.into())
    );
}

#[test]
fn fuzz_lines_match_their_schema_and_only_elapsed_s_changes_with_the_workers() {
    let d = tmpdir("fuzz");
    let go = |jobs: &str| {
        let o = run(&[
            "fuzz",
            "--runs",
            "200",
            "--seed",
            "1",
            "--jobs",
            jobs,
            "--json",
            "--out",
            s(&d),
        ]);
        assert_eq!(
            code(&o),
            1,
            "rfc-v1 shows findings in 200 runs: {}",
            text(&o)
        );
        lines(&o)
    };
    let one = go("1");
    let findings = of_type(&one, "finding");
    assert!(!findings.is_empty());
    assert_eq!(one.last().unwrap()["type"], "summary");
    assert_eq!(one.last().unwrap()["execs"], 200);
    assert_eq!(
        one.last().unwrap()["distinct_findings"],
        findings.len() as u64
    );
    for f in &findings {
        assert_eq!(f["finding"]["signature"], f["signature"]);
        assert!(Path::new(f["file"].as_str().unwrap()).is_file());
    }
    let two = go("2");
    let key = |v: &[Value]| v.iter().cloned().map(untimed).collect::<Vec<_>>();
    assert_eq!(key(&one), key(&two));
}

const SMALLEST: [&str; 14] = [
    "exhaust",
    "--chunks",
    "1",
    "--folios",
    "1",
    "--kinds",
    "hugetlb",
    "--cuts",
    "none",
    "--offsets",
    "page",
    "--buffers",
    "1",
    "--json",
];

#[test]
fn exhaust_lines_match_their_schema() {
    let d = tmpdir("exhaust");
    let mut args = SMALLEST.to_vec();
    args.extend(["--faults", "none", "--jobs", "1", "--out", s(&d)]);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let all = lines(&o);
    assert_eq!(
        all.len(),
        1,
        "no finding in the smallest bound: {}",
        text(&o)
    );
    assert_eq!(all[0]["summary"], true);
    assert!(all[0]["executed"].as_u64().unwrap() > 0);

    // Two chunks hold the aliased hugetlb page: findings, the same lines
    // whatever the workers.
    let go = |jobs: &str| {
        let mut args = SMALLEST.to_vec();
        args[2] = "2";
        args.extend(["--jobs", jobs, "--out", s(&d)]);
        let o = run(&args);
        assert_eq!(code(&o), 1, "{}", text(&o));
        lines(&o)
    };
    let one = go("1");
    let findings = of_type(&one, "finding");
    assert!(findings.len() >= 2, "{one:?}");
    assert!(findings
        .iter()
        .all(|f| f["finding"]["signature"] == f["signature"]));
    let key = |v: &[Value]| {
        v.iter()
            .cloned()
            .map(|l| {
                let mut l = untimed(l);
                l.as_object_mut().unwrap().remove("jobs");
                l
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&one), key(&go("2")));
}

#[test]
fn explain_lines_match_their_schema_and_are_the_same_every_time() {
    let o = run(&["explain", COVERAGE, "--json"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let all = lines(&o);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["type"], "result");
    assert_eq!(all[0]["variant"], "rfc-v1");
    assert_eq!(
        all[0]["findings"][0]["signature"],
        "rfc-v1:invariant:coverage/length"
    );
    assert_eq!(o.stdout, run(&["explain", COVERAGE, "--json"]).stdout);

    let o = run(&["explain", HELD, "--variant", "upstream", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let all = lines(&o);
    assert_eq!(all[0]["runs"].as_array().unwrap().len(), 1, "one side");

    let o = run(&["explain", "no/such/file.toml", "--json"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let all = lines(&o);
    assert_eq!(all[0]["type"], "error");
    assert_eq!(all[0]["command"], "explain");
}

/// As root on a kernel with io_uring and huge pages this runs the check
/// for real (a few scenarios); elsewhere it validates the skip line.
#[test]
fn live_lines_match_their_schema() {
    let d = tmpdir("live");
    let o = run(&[
        "live",
        "--count",
        "3",
        "--seed",
        "1",
        "--json",
        "--out",
        s(&d),
    ]);
    let all = lines(&o);
    match code(&o) {
        77 => {
            assert_eq!(all.len(), 1, "{}", text(&o));
            assert_eq!(all[0]["type"], "skip");
            eprintln!("live skipped here: {}", all[0]["reason"]);
            return;
        }
        0 | 1 => {}
        c => panic!("exit {c}: {}", text(&o)),
    }
    assert_eq!(of_type(&all, "scenario").len(), 3, "{}", text(&o));
    assert_eq!(all.last().unwrap()["type"], "summary");
    assert_eq!(all.last().unwrap()["tally"]["drawn"], 3);

    let o = run(&["live", HELD, "--json", "--out", s(&d)]);
    assert!(matches!(code(&o), 0 | 1), "{}", text(&o));
    let all = lines(&o);
    assert_eq!(all[0]["input"], HELD);

    // A fault the running kernel cannot be made to meet: an error line.
    let o = run(&[
        "live",
        COVERAGE,
        "corpus/findings/rfc-v1/rfc-v1--invariant-pins-count.toml",
        "--json",
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let all = lines(&o);
    assert_eq!(all.last().unwrap()["type"], "error");
}

/// The lines a real run prints only on some machines (a disagreement, a
/// skip), built by the same types from fixed values.
fn fixed_live_lines() -> Vec<Value> {
    let scenario = |verdict, reason: Option<&str>, file: Option<&str>, diffs| LiveScenario {
        head: Head::new("live", "scenario"),
        kernel: "6.18.0".into(),
        seed: 5,
        scenario: 42,
        input: None,
        verdict,
        reason: reason.map(Into::into),
        file: file.map(Into::into),
        disagreements: diffs,
    };
    let mut tally = LiveTally {
        drawn: 3,
        judged: 2,
        agreed: 1,
        ..LiveTally::default()
    };
    tally.skipped.insert("unsupported: mTHP".into(), 1);
    let lines = [
        serde_json::to_value(LiveSkip {
            head: Head::new("live", "skip"),
            kernel: "6.18.0".into(),
            reason: "not root".into(),
        }),
        serde_json::to_value(scenario(LiveVerdict::Agrees, None, None, vec![])),
        serde_json::to_value(scenario(
            LiveVerdict::Skipped,
            Some("needs more huge pages than reserved"),
            None,
            vec![],
        )),
        serde_json::to_value(scenario(
            LiveVerdict::Disagrees,
            None,
            Some("live-findings/live-seed5-42.toml"),
            vec![LiveDisagreement {
                op: 1,
                what: "return value".into(),
                model: "0".into(),
                kernel: "-14".into(),
            }],
        )),
        serde_json::to_value(LiveSummary {
            head: Head::new("live", "summary"),
            summary: true,
            kernel: "6.18.0".into(),
            seed: 5,
            interrupted: false,
            tally,
        }),
    ];
    lines.into_iter().map(Result::unwrap).collect()
}

#[test]
fn live_lines_built_from_fixed_verdicts_match_their_schema() {
    for l in fixed_live_lines() {
        check(&l).unwrap_or_else(|e| panic!("{e}\nline: {l}"));
    }
}

#[test]
fn a_line_without_a_required_field_or_with_an_unknown_one_is_rejected() {
    let good = fixed_live_lines().remove(3);
    check(&good).unwrap();
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("verdict");
    assert!(check(&missing).unwrap_err().contains("verdict"));
    let mut nested = good.clone();
    nested["disagreements"][0]
        .as_object_mut()
        .unwrap()
        .remove("kernel");
    assert!(check(&nested).is_err(), "a required field of an item");
    let mut wrong = good.clone();
    wrong["verdict"] = "maybe".into();
    assert!(check(&wrong).is_err(), "a value outside the enum");
    let mut extra = good.clone();
    extra["shiny"] = true.into();
    assert!(check(&extra).is_err(), "a field the schema does not name");
    let mut later = good;
    later["schema"] = 2.into();
    assert!(
        check(&later).unwrap_err().contains("no schema"),
        "a version with no schema file"
    );

    // Deep inside a replay result: a buffer without nr_bvecs.
    let o = run(&["replay", COVERAGE, "--variant", "rfc-v1", "--json"]);
    let mut line = lines(&o).remove(0);
    line["runs"][0]["ops"][0]["buffers"][0]
        .as_object_mut()
        .unwrap()
        .remove("nr_bvecs");
    assert!(check(&line).unwrap_err().contains("nr_bvecs"));
}

/// Each schema file compiles, and the book names each one.
#[test]
fn every_schema_compiles_and_the_book_names_it() {
    let book = std::fs::read_to_string(root().join("docs/src/json.md")).unwrap();
    assert!(validators().len() >= 10);
    for name in validators().keys().chain([&"defs.v1.json".to_string()]) {
        assert!(
            book.contains(&format!("docs/schema/{name}")),
            "docs/src/json.md does not name docs/schema/{name}"
        );
    }
}
