//! `regbuf-fuzz report`: the mail for each RFC v1 finding carries its key
//! numbers and names, wraps its prose at 72 columns, inlines the C
//! reproducer and ends with the command that reproduces it; the SVG is
//! well-formed XML naming every bvec of both sides; bad input exits 2.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("regbuf-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `report` on a finding: exit code, the mail, the SVG.
fn report(finding: &str) -> (i32, String, String) {
    let dir = tmpdir(finding);
    let svg = dir.join("out.svg");
    let file = format!("corpus/findings/rfc-v1/rfc-v1--{finding}.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_regbuf-fuzz"))
        .current_dir(root())
        .args(["report", &file, "--svg", svg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
        std::fs::read_to_string(svg).unwrap(),
    )
}

fn has(mail: &str, line: &str) {
    assert!(
        mail.lines().any(|l| l.trim_end() == line),
        "no line {line:?} in:\n{mail}"
    );
}

/// Prose, tables and diagrams fit in 72 columns; the subject, paths,
/// commands, the diff hunk and the C source are exempt.
fn check_width(mail: &str) {
    let before_c = mail.split("---8<--- repro.c").next().unwrap();
    let mut in_diff = false;
    for l in before_c.lines() {
        in_diff |= l.starts_with("--- a/");
        in_diff &= !l.is_empty();
        let exempt = in_diff
            || l.starts_with("Subject: ")
            || l.contains("corpus/")
            || l.starts_with("    regbuf-fuzz ")
            || l.starts_with("    gcc ");
        assert!(
            exempt || l.chars().count() <= 72,
            "line over 72 columns: {l:?}"
        );
    }
}

/// The SVG parses, and every bvec of both sides is named in it.
fn check_svg(svg: &str, bvecs: &[(&str, usize)]) {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    for &(side, n) in bvecs {
        for i in 0..n {
            let name = format!("{side} bvec[{i}]");
            assert!(
                texts.iter().any(|t| t.contains(&name)),
                "{name} not in the SVG"
            );
        }
        assert!(
            !texts
                .iter()
                .any(|t| t.contains(&format!("{side} bvec[{n}]"))),
            "{side} has only {n} bvecs"
        );
    }
}

fn common(mail: &str, finding: &str) {
    let file = format!("corpus/findings/rfc-v1/rfc-v1--{finding}.toml");
    has(mail, "To: io-uring@vger.kernel.org");
    has(
        mail,
        "Base:    Linux 7.1-rc1: io_uring/rsrc.c blob 650303626be6,",
    );
    has(
        mail,
        "Patch:   [RFC v1] io_uring/rsrc: add fast path huge page handling in",
    );
    has(mail, &format!("File:    {file}"));
    has(
        mail,
        "+\t\t    pages[nr_pages - 1] == pages[0] + nr_pages - 1) {",
    );
    has(mail, "---8<--- repro.c ---8<---");
    assert!(
        mail.contains("static const struct op ops[] = {"),
        "C inline"
    );
    assert!(mail.contains("it shows no finding on this layout"));
    assert_eq!(
        mail.trim_end().lines().last(),
        Some(format!("regbuf-fuzz replay {file} --variant rfc-v1").as_str())
    );
    check_width(mail);
}

#[test]
fn coverage_length() {
    let (code, mail, svg) = report("invariant-coverage-length");
    assert_eq!(code, 1);
    common(&mail, "invariant-coverage-length");
    has(
        &mail,
        "Subject: [BUG] io_uring/rsrc: rfc-v1: bvec lengths do not add up to the buffer length",
    );
    has(&mail, "Finding: rfc-v1:invariant:coverage/length");
    has(
        &mail,
        "  0x7f0000200000  A         seg 1: folio 0 pages 0-511, again (as seg 0)",
    );
    has(
        &mail,
        "  A  op 0  iov_base 0x7f0000000000  iov_len 0x400000 (4 MiB)",
    );
    has(
        &mail,
        "  slot 0, upstream: nr_bvecs 2, folio_shift 21, acct_pages 512",
    );
    has(
        &mail,
        "  slot 0, rfc-v1: nr_bvecs 1, folio_shift 21, acct_pages 512",
    );
    has(
        &mail,
        "    bv_len adds up to 0x200000; imu->len is 0x400000",
    );
    has(&mail, "  pins on folio 0: upstream 0 -> 2, rfc-v1 0 -> 1");
    let flat = mail.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("at +0x200000: moves nothing where upstream moves 0x100000000+0x1000"),
        "the read from offset 2 MiB: {mail}"
    );
    check_svg(&svg, &[("upstream", 2), ("rfc-v1", 1)]);
    assert!(svg.contains("bv_len adds up to 0x200000; imu-&gt;len is 0x400000"));
}

#[test]
fn coverage_outside_pins() {
    let (code, mail, svg) = report("invariant-coverage-outside-pins");
    assert_eq!(code, 1);
    common(&mail, "invariant-coverage-outside-pins");
    has(
        &mail,
        "Subject: [BUG] io_uring/rsrc: rfc-v1: a bvec reaches memory the buffer does not pin",
    );
    has(
        &mail,
        "    bvec[0] folio 0 page 511  bv_offset 0xfff    bv_len 0x2",
    );
    has(
        &mail,
        "    bvec[1] folio 0 page 0    bv_offset 0x0      bv_len 0x1",
    );
    assert!(mail.contains("byte 0x100200000"), "{mail}");
    check_svg(&svg, &[("upstream", 2), ("rfc-v1", 1)]);
    // The second byte of rfc-v1's bvec is outside the folio: drawn red.
    assert!(svg.contains(
        "rfc-v1 bvec[0]: physical 0x100200000-0x100200001, outside every folio this buffer pins"
    ));
}

#[test]
fn pins_underflow() {
    let (code, mail, svg) = report("invariant-pins-underflow");
    assert_eq!(code, 1);
    common(&mail, "invariant-pins-underflow");
    has(
        &mail,
        "Subject: [BUG] io_uring/rsrc: rfc-v1: a folio is unpinned more often than it was pinned",
    );
    has(&mail, "  returns: upstream -EFAULT, rfc-v1 -EFAULT");
    has(
        &mail,
        "  pins on folio 0: upstream 0 -> 0, rfc-v1 0 -> -512",
    );
    has(&mail, "  pins on folio 1: upstream 0 -> 0, rfc-v1 0 -> 512");
    has(
        &mail,
        "  0x7f0000001000  .B        (unmapped: alignment padding)",
    );
    check_svg(&svg, &[("upstream", 0), ("rfc-v1", 0)]);
    assert!(svg.contains("pins: upstream 0, rfc-v1 -512"));
}

#[test]
fn pins_count() {
    let (code, mail, svg) = report("invariant-pins-count");
    assert_eq!(code, 1);
    common(&mail, "invariant-pins-count");
    has(
        &mail,
        "Subject: [BUG] io_uring/rsrc: rfc-v1: a folio's pin count does not match its bvecs",
    );
    assert!(mail.contains("small geometry"));
    has(
        &mail,
        "  upstream: allocation failed at io_alloc_imu: io_cache_alloc",
    );
    has(&mail, "  pins on folio 0: upstream 0 -> 16, rfc-v1 0 -> 8");
    has(&mail, "  pins on folio 0: upstream 16 -> 0, rfc-v1 8 -> -8");
    check_svg(&svg, &[("upstream", 20), ("rfc-v1", 20)]);
}

#[test]
fn bad_input_is_trouble() {
    let dir = tmpdir("bad");
    let bin = env!("CARGO_BIN_EXE_regbuf-fuzz");
    let run = |args: &[&str]| Command::new(bin).args(args).output().unwrap();
    let o = run(&["report", dir.join("none.toml").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("none.toml"), "{err}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "format = 1\ngeometry = \"huge\"\n").unwrap();
    let o = run(&["report", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("geometry"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let good = root().join("corpus/findings/rfc-v1/rfc-v1--invariant-coverage-length.toml");
    let o = run(&[
        "report",
        good.to_str().unwrap(),
        "--svg",
        Path::new("/nonexistent-dir/x.svg").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent-dir/x.svg"), "{err}");
}
