//! The kernel's own C in the loop, on a real tree: the tree's C and the
//! Rust model of its version agree operation by operation; a patch as
//! posted is applied and its bug found; bad trees and patches get errors
//! that name the file and the reason.
//!
//! Needs a kernel tree with io_uring/ (7.2: Debian's linux-source-7.2, as
//! .ci/run unpacks it) named by REGBUF_KERNEL_TREE; without one each test
//! says so and passes, having checked nothing.

use regbuf_fuzz::campaign::draw;
use regbuf_fuzz::ctree::CVariant;
use regbuf_fuzz::gen::GenConfig;
use regbuf_fuzz::run::run;
use regbuf_fuzz::variants::{self, Variant};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tree() -> Option<PathBuf> {
    match std::env::var_os("REGBUF_KERNEL_TREE") {
        Some(t) => Some(PathBuf::from(t)),
        None => {
            eprintln!("skipped: no kernel tree (set REGBUF_KERNEL_TREE to a tree with io_uring/)");
            None
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("regbuf-ctree-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A copy of the four files of `tree`, with `edit` applied to rsrc.c.
fn edited_tree(tree: &Path, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let d = scratch(name);
    std::fs::create_dir_all(d.join("io_uring")).unwrap();
    for f in regbuf_fuzz::ctree::build::FILES {
        let text = std::fs::read_to_string(tree.join(f)).unwrap();
        let text = if f == "io_uring/rsrc.c" {
            edit(&text)
        } else {
            text
        };
        std::fs::write(d.join(f), text).unwrap();
    }
    d
}

/// `diff -u` of rsrc.c between two trees, as a/ b/ paths.
fn diff(a: &Path, b: &Path, out: &Path) {
    let o = Command::new("diff")
        .arg("-u")
        .arg("--label")
        .arg("a/io_uring/rsrc.c")
        .arg("--label")
        .arg("b/io_uring/rsrc.c")
        .arg(a.join("io_uring/rsrc.c"))
        .arg(b.join("io_uring/rsrc.c"))
        .output()
        .unwrap();
    std::fs::write(out, o.stdout).unwrap();
}

fn model_of(tree: &Path) -> &'static dyn Variant {
    let rsrc = std::fs::read_to_string(tree.join("io_uring/rsrc.c")).unwrap();
    variants::by_name(if rsrc.contains("hpage_acct_ref") {
        "v7.2"
    } else {
        "upstream"
    })
    .unwrap()
}

/// What a campaign with a tree draws: one ring, since the C runs one.
fn one_ring() -> GenConfig {
    GenConfig {
        rings: false,
        ..GenConfig::default()
    }
}

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

/// Every operation's return value, state and findings, the same on both.
fn agree(c: &dyn Variant, m: &dyn Variant, built: &regbuf_fuzz::scenario::Built, what: &str) {
    let (rc, rm) = (run(c, built), run(m, built));
    assert_eq!(rc.ops.len(), rm.ops.len(), "{what}");
    for (k, (a, b)) in rc.ops.iter().zip(&rm.ops).enumerate() {
        let va: Vec<_> = a
            .violations
            .iter()
            .map(|v| (v.invariant, v.aspect.clone()))
            .collect();
        // The C has the widths (its stores truncate, and the snapshot
        // compares what they kept) but does not record them: the model's
        // `widths` findings, and its imports' `import/width`, have no
        // counterpart to compare with.
        let vb: Vec<_> = b
            .violations
            .iter()
            .filter(|v| {
                v.invariant != "widths" && (v.invariant, v.aspect.as_str()) != ("import", "width")
            })
            .map(|v| (v.invariant, v.aspect.clone()))
            .collect();
        assert_eq!(
            (a.ret, &a.snapshot, &a.import, &va),
            (b.ret, &b.snapshot, &b.import, &vb),
            "{what}: op {k} ({}) differs between the C and {}",
            a.kind,
            m.name()
        );
    }
    assert_eq!(
        rc.alloc_sites, rm.alloc_sites,
        "{what}: allocation calls differ"
    );
}

#[test]
fn the_trees_c_and_the_model_agree_on_the_corpus_and_on_drawn_scenarios() {
    let Some(tree) = tree() else { return };
    let m = model_of(&tree);
    let c = leak(CVariant::new("tree", &tree, &[], m).expect("the tree builds"));
    let mut n = 0;
    for f in regbuf_fuzz::corpus::files(Path::new("corpus")).unwrap() {
        let s = regbuf_fuzz::corpus::load(&f).unwrap();
        let Ok(built) = regbuf_fuzz::scenario::build(&s) else {
            continue;
        };
        if let Some((i, kind)) = s.first_kbuf_op() {
            // The C registers user buffers only: refused by the operation.
            let e = regbuf_fuzz::oracle::check(&s, c, m).unwrap_err();
            assert_eq!(e.field, format!("op[{i}]"), "{}", f.display());
            assert!(
                e.reason.starts_with(&format!("`{kind}`: "))
                    && e.reason.contains("registers user buffers only"),
                "{}: {e}",
                f.display()
            );
            continue;
        }
        if built.world.nr_rings() > 1 || s.ops.iter().any(|o| o.kind() == "clone") {
            // The C runs one ring: such a file is refused by name.
            let e = regbuf_fuzz::oracle::check(&s, c, m).err();
            assert!(
                e.is_some_and(|e| e.reason.contains("one ring")),
                "{}",
                f.display()
            );
            continue;
        }
        agree(c, m, &built, &f.display().to_string());
        n += 1;
    }
    assert!(n >= 50, "only {n} corpus files ran");
    // REGBUF_CTREE_SCENARIOS raises the count for a longer check by hand.
    let count = std::env::var("REGBUF_CTREE_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000u64);
    for i in 0..count {
        let s = draw(7, i, &one_ring());
        let Ok(built) = regbuf_fuzz::scenario::build(&s) else {
            continue;
        };
        agree(c, m, &built, &format!("seed 7 iteration {i}"));
    }
}

#[test]
fn a_patch_as_posted_is_applied_and_its_leaked_pin_found() {
    let Some(tree) = tree() else { return };
    let bad = edited_tree(&tree, "leak", |s| {
        assert!(s.contains("unpin_user_folio(folio, nr - 1);"));
        s.replace(
            "unpin_user_folio(folio, nr - 1);",
            "unpin_user_folio(folio, nr - 2);",
        )
    });
    let patch = scratch("leak-patch").join("leak.patch");
    diff(&tree, &bad, &patch);
    let m = model_of(&tree);
    let base = leak(CVariant::new("tree", &tree, &[], m).unwrap());
    let patched = leak(CVariant::new("tree+patch", &tree, &[patch], m).unwrap());
    let found = (0..2000).find_map(|i| {
        let built = regbuf_fuzz::scenario::build(&draw(1, i, &one_ring())).ok()?;
        let r = run(patched, &built);
        let hit = r
            .ops
            .iter()
            .flat_map(|o| &o.violations)
            .any(|v| v.invariant == "pins");
        (hit && run(base, &built)
            .ops
            .iter()
            .all(|o| o.violations.iter().all(|v| v.invariant != "pins")))
        .then_some(i)
    });
    assert!(
        found.is_some(),
        "the leaked pin was not found in 2000 scenarios"
    );
}

#[test]
fn bad_trees_and_patches_are_named() {
    let Some(tree) = tree() else { return };
    let m = model_of(&tree);
    // A tree without the files.
    let empty = scratch("empty");
    let e = CVariant::new("t", &empty, &[], m)
        .err()
        .expect("an empty directory is no tree")
        .to_string();
    assert!(
        e.contains("io_uring/rsrc.c") && e.contains("cannot read"),
        "{e}"
    );
    // A hunk that does not apply names the file and the hunk.
    let patch = scratch("bad-patch").join("bad.patch");
    std::fs::write(
        &patch,
        "--- a/io_uring/rsrc.c\n+++ b/io_uring/rsrc.c\n@@ -1,3 +1,3 @@\n no such line\n-in this file\n+at all\n here\n",
    )
    .unwrap();
    let e = CVariant::new("t", &tree, &[patch.clone()], m)
        .err()
        .expect("the hunk fails")
        .to_string();
    assert!(
        e.contains("bad.patch") && e.contains("io_uring/rsrc.c") && e.contains("Hunk #1 FAILED"),
        "{e}"
    );
    // No diff at all.
    std::fs::write(&patch, "Subject: just words\n\nno diff here\n").unwrap();
    let e = CVariant::new("t", &tree, &[patch], m)
        .err()
        .expect("no diff")
        .to_string();
    assert!(e.contains("no diff"), "{e}");
    // A call the shim does not provide makes the tree unsupported, by name.
    let odd = edited_tree(&tree, "odd", |s| {
        s.replacen(
            "static bool io_coalesce_buffer(",
            "void frobnicate_folio(void *);\nstatic bool io_coalesce_buffer(",
            1,
        )
        .replacen(
            "kvfree(page_array);",
            "kvfree(page_array);\n\tfrobnicate_folio(page_array);",
            1,
        )
    });
    let e = CVariant::new("t", &odd, &[], m)
        .err()
        .expect("unsupported")
        .to_string();
    assert!(
        e.contains("unsupported tree") && e.contains("frobnicate_folio"),
        "{e}"
    );
}

#[test]
fn a_new_allocation_a_patch_leaks_is_reported_at_ring_exit() {
    let Some(tree) = tree() else { return };
    let odd = edited_tree(&tree, "kmemleak", |s| {
        let at = "void io_rsrc_cache_free(struct io_ring_ctx *ctx)\n{\n";
        assert!(s.contains(at));
        s.replacen(at, &format!("{at}\t(void)kmalloc(64, GFP_KERNEL);\n"), 1)
    });
    let m = model_of(&tree);
    let c = leak(CVariant::new("t", &odd, &[], m).unwrap());
    let built = regbuf_fuzz::scenario::build(&draw(1, 0, &one_ring())).unwrap();
    let r = run(c, &built);
    let exit = r.ops.last().unwrap();
    assert!(
        exit.violations
            .iter()
            .any(|v| v.invariant == "no_warning"
                && v.aspect.contains("kmemleak(io_rsrc_cache_free)")),
        "{:?}",
        exit.violations
    );
}

/// The oops aspects of every operation of `built` on `v`, and whether the
/// run reached ring exit.
fn oopses(v: &dyn Variant, built: &regbuf_fuzz::scenario::Built) -> (Vec<String>, bool) {
    let r = run(v, built);
    let reached_exit = r.ops.len() == built.ops.len() + 1;
    let o = r
        .ops
        .iter()
        .flat_map(|o| &o.violations)
        .filter(|v| v.invariant == "oops")
        .map(|v| format!("{} | {}", v.aspect, v.detail))
        .collect();
    (o, reached_exit)
}

/// The first of `n` drawn scenarios that registers a buffer.
fn registering(n: u64) -> Vec<regbuf_fuzz::scenario::Built> {
    (0..n)
        .filter_map(|i| regbuf_fuzz::scenario::build(&draw(3, i, &one_ring())).ok())
        .filter(|b| {
            b.ops
                .iter()
                .any(|o| matches!(o, regbuf_fuzz::scenario::ConcreteOp::Register { iovecs } if !iovecs.is_empty()))
        })
        .collect()
}

#[test]
fn a_read_past_an_object_is_reported_as_kasan_would_and_the_run_goes_on() {
    let Some(tree) = tree() else { return };
    let at = "\t\tpages = NULL;\n\t\tgoto done;\n\t}\n";
    let odd = edited_tree(&tree, "oob", |s| {
        assert_eq!(s.matches(at).count(), 1);
        s.replacen(
            at,
            &format!("{at}\tif (pages[nr_pages] == (void *)1)\n\t\tnr_pages--;\n"),
            1,
        )
    });
    let c = leak(CVariant::new("t", &odd, &[], model_of(&tree)).unwrap());
    let mut seen = 0;
    for built in registering(200).iter().take(20) {
        let (o, reached_exit) = oopses(c, built);
        let Some(first) = o.first() else { continue };
        assert!(
            first.starts_with("slab-out-of-bounds in io_sqe_buffer_register | ")
                && first.contains("0 bytes to the right of the")
                && first.contains("region allocated by io_pin_pages")
                && first.contains("io_uring/rsrc.c:"),
            "{first}"
        );
        // KASAN reports and the kernel goes on: the run reaches ring exit.
        assert!(reached_exit, "{o:?}");
        seen += 1;
    }
    assert!(
        seen >= 10,
        "only {seen} of 20 registering scenarios reported it"
    );
}

#[test]
fn a_use_after_free_is_reported_with_the_freed_object() {
    let Some(tree) = tree() else { return };
    let at = "\tkvfree(pages);\n\treturn node;";
    let odd = edited_tree(&tree, "uaf", |s| {
        assert_eq!(s.matches(at).count(), 1);
        s.replacen(
            at,
            "\tkvfree(pages);\n\tif (pages && pages[0] == (void *)1)\n\t\treturn NULL;\n\treturn node;",
            1,
        )
    });
    let c = leak(CVariant::new("t", &odd, &[], model_of(&tree)).unwrap());
    let built = &registering(50)[0];
    let (o, _) = oopses(c, built);
    assert!(
        o.first().is_some_and(
            |f| f.starts_with("use-after-free in io_sqe_buffer_register | ")
                && f.contains("0 bytes inside the")
                && f.contains("allocated by io_pin_pages and freed")
        ),
        "{o:?}"
    );
}

#[test]
fn a_null_pointer_write_is_an_oops_that_ends_the_run_not_the_fuzzer() {
    let Some(tree) = tree() else { return };
    let at = "\t\tpages = NULL;\n\t\tgoto done;\n\t}\n";
    let odd = edited_tree(&tree, "null", |s| {
        s.replacen(at, &format!("{at}\t*(volatile int *)8 = nr_pages;\n"), 1)
    });
    let c = leak(CVariant::new("t", &odd, &[], model_of(&tree)).unwrap());
    let mut oopsed = 0;
    for built in &registering(100) {
        let r = run(c, built);
        // A registration that fails before the write (a fault, a hole) has
        // no oops; one that reaches it dies there.
        let Some(k) = r
            .ops
            .iter()
            .position(|o| o.violations.iter().any(|v| v.invariant == "oops"))
        else {
            continue;
        };
        oopsed += 1;
        let last = &r.ops[k];
        // The oops is the op's only finding, and nothing runs after it.
        assert_eq!(k + 1, r.ops.len(), "ran past the oops");
        let v: Vec<_> = last
            .violations
            .iter()
            .map(|v| (v.invariant, v.aspect.as_str()))
            .collect();
        assert_eq!(
            v,
            [("oops", "null-ptr-deref in io_sqe_buffer_register")],
            "{:?}",
            last.violations
        );
        assert!(
            last.violations[0].detail.contains("write, address 0x8"),
            "{}",
            last.violations[0].detail
        );
    }
    assert!(oopsed >= 10, "only {oopsed} scenarios reached the write");
}

/// The RFC as posted (`REGBUF_RFC_V1`: the archive's copy, whose
/// whitespace is gone) on a 7.1 tree: it applies, and the campaign's first
/// scenarios show its classes and the memory error its short table causes.
#[test]
fn the_rfc_as_posted_applies_to_a_7_1_tree_and_its_findings_are_found() {
    let Some(tree) = tree() else { return };
    let Some(rfc) = std::env::var_os("REGBUF_RFC_V1").map(PathBuf::from) else {
        eprintln!("skipped: set REGBUF_RFC_V1 to the RFC v1 patch file");
        return;
    };
    if model_of(&tree).name() != "upstream" {
        eprintln!("skipped: the RFC is against 7.1, and this tree is 7.2");
        return;
    }
    let up = model_of(&tree);
    let c = leak(CVariant::new("tree+patch", &tree, &[rfc], up).expect("the RFC applies"));
    let mut sigs = std::collections::BTreeSet::new();
    for i in 0..2000 {
        let Ok((v, _, _)) = regbuf_fuzz::oracle::check(&draw(1, i, &one_ring()), c, up) else {
            continue;
        };
        sigs.extend(v.findings.iter().map(|f| f.signature()));
    }
    for want in [
        "tree+patch:invariant:coverage/length",
        "tree+patch:invariant:coverage/outside-pins",
        "tree+patch:invariant:pins/underflow",
        "tree+patch:invariant:oops/null-ptr-deref in iterate_bvec",
    ] {
        assert!(sigs.contains(want), "{want} not in {sigs:?}");
    }
}

/// A tree of 6.12's design (`REGBUF_KERNEL_TREE_612`: .ci/run unpacks
/// Debian's linux-source-6.12), or a skip with the reason.
fn tree_612() -> Option<PathBuf> {
    match std::env::var_os("REGBUF_KERNEL_TREE_612") {
        Some(t) => Some(PathBuf::from(t)),
        None => {
            eprintln!(
                "skipped: no 6.12 tree (set REGBUF_KERNEL_TREE_612 to a tree with io_uring/)"
            );
            None
        }
    }
}

/// A tree variant under a name of its own, registered so that a verdict
/// finds its known bugs by name (tests run side by side in one process).
fn named(name: &'static str, tree: &Path, patches: &[PathBuf]) -> &'static CVariant {
    let up = variants::by_name("upstream").unwrap();
    let c = leak(CVariant::new(name, tree, patches, up).expect("the tree builds"));
    variants::register(c);
    c
}

#[test]
fn a_6_12_tree_against_itself_has_only_its_known_bugs() {
    let Some(tree) = tree_612() else { return };
    let c = named("t612", &tree, &[]);
    assert!(!c.has_vectored_import(), "6.12 has no READV_FIXED");
    let mut known = std::collections::BTreeSet::new();
    for i in 0..5000 {
        let Ok((v, _, _)) = regbuf_fuzz::oracle::check(&draw(1, i, &one_ring()), c, c) else {
            continue;
        };
        assert!(v.findings.is_empty(), "iteration {i}: {:?}", v.findings);
        known.extend(v.known.iter().map(|f| f.signature()));
    }
    // 6.12's nr_segs (before 80c7378f94cf) and 7.1's bypass, seen and set aside.
    assert!(known.contains("t612:invariant:import/nr-segs"), "{known:?}");
    assert!(
        known.contains("t612:invariant:accounting/uncharged-pins"),
        "{known:?}"
    );
}

#[test]
fn the_labs_rfc_port_on_6_12_shows_its_classes_and_the_fix_port_none() {
    let Some(tree) = tree_612() else { return };
    let base = named("t612-base", &tree, &[]);
    let rfc = PathBuf::from("lab/patches/6.12/rfc-v1.patch");
    let fix = PathBuf::from("lab/patches/6.12/rfc-v1-fixed.patch");
    let port = named("t612+rfc", &tree, &[rfc.clone()]);
    let mut sigs = std::collections::BTreeSet::new();
    for i in 0..2000 {
        if let Ok((v, _, _)) = regbuf_fuzz::oracle::check(&draw(1, i, &one_ring()), port, base) {
            sigs.extend(v.findings.iter().map(|f| f.signature()));
        }
    }
    for want in [
        "t612+rfc:invariant:coverage/length",
        "t612+rfc:invariant:coverage/outside-pins",
        "t612+rfc:invariant:pins/underflow",
        // 6.12's imu is exactly as long as its bvecs: the I/O's step to
        // bvec[1] of the one-entry table leaves it, as KASAN saw in the lab.
        "t612+rfc:invariant:oops/slab-out-of-bounds in iterate_bvec",
    ] {
        assert!(sigs.contains(want), "{want} not in {sigs:?}");
    }
    let fixed = named("t612+fix", &tree, &[rfc, fix]);
    for i in 0..5000 {
        if let Ok((v, _, _)) = regbuf_fuzz::oracle::check(&draw(1, i, &one_ring()), fixed, base) {
            assert!(v.findings.is_empty(), "iteration {i}: {:?}", v.findings);
        }
    }
}
