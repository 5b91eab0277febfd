//! The hooks: `HOOKS` is the trait's list, and a variant that overrides one
//! function changes what every caller of it does, GUP's callers and the
//! `import` invariant's capacity included.

use super::upstream::Upstream;
use super::Variant;
use crate::mm::{AllocId, FolioId};
use crate::model::runs::Pages;
use crate::model::{Errno, Iovec, World};
use crate::oracle::Violation;
use crate::run::{run, Run};
use crate::scenario::{build, Scenario};

/// `HOOKS` names every kernel-function method of `Variant`, in order: read
/// from the trait's own source, so a method added without a line in
/// `HOOKS` fails here.
#[test]
fn hooks_list_every_overridable_kernel_function() {
    let src = include_str!("mod.rs");
    let start = src.find("pub trait Variant").unwrap();
    let body = &src[start..start + src[start..].find("\n}\n").unwrap()];
    let oracle_and_identity = [
        "name",
        "summary",
        "fix_of",
        "known_bugs",
        "kernel_c",
        "imu_acct_pages",
        "accounted_pages",
        "accounting_rule",
        "c_types",
    ];
    let methods: Vec<&str> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("fn "))
        .map(|l| &l[..l.find('(').unwrap()])
        .filter(|m| !oracle_and_identity.contains(m))
        .collect();
    assert_eq!(methods, super::HOOKS);
}

/// Four small folios mapped in a row, one register of all 16 KiB, then `ops`.
fn four_pages(ops: &str) -> Scenario {
    let mut body = String::from("format = 1\ngeometry = \"real\"\n");
    for f in 0..4 {
        body += &format!("[[folio]]\nkind = \"small\"\n[[segment]]\nfolio = {f}\n");
    }
    body += "[[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 3, off = 4096 } }]\n";
    Scenario::from_toml(&(body + ops)).unwrap()
}

fn go(v: &dyn Variant, sc: &Scenario) -> Run {
    run(v, &build(sc).unwrap())
}

fn rets(r: &Run) -> Vec<i64> {
    r.ops.iter().map(|o| o.ret).collect()
}

fn violation<'a>(r: &'a Run, op: usize, aspect: &str) -> Option<&'a Violation> {
    r.ops[op].violations.iter().find(|v| v.aspect == aspect)
}

fn assert_clean(r: &Run) {
    for (i, o) in r.ops.iter().enumerate() {
        assert!(
            o.violations.is_empty(),
            "{} op {i}: {:?}",
            r.variant,
            o.violations
        );
    }
}

/// GUP that stops one page short of what it is asked for.
struct ShortGup;
impl Variant for ShortGup {
    fn name(&self) -> &'static str {
        "test-short-gup"
    }
    fn summary(&self) -> &'static str {
        "pin_user_pages_fast pins one page fewer than asked"
    }
    fn pin_user_pages_fast(
        &self,
        w: &mut World,
        start: u64,
        nr_pages: u64,
        gup_flags: u32,
        pages: &mut Pages,
    ) -> Result<u64, Errno> {
        Upstream.pin_user_pages_fast(w, start, nr_pages - 1, gup_flags, pages)
    }
}

/// `io_pin_pages()` reaches GUP through the variant: a short pin is its
/// partial map, unpinned again and `-EFAULT`, where upstream registers.
#[test]
fn a_gup_override_is_what_io_pin_pages_calls() {
    let sc = four_pages("");
    let up = go(&Upstream, &sc);
    let short = go(&ShortGup, &sc);
    assert_eq!(rets(&up), vec![0, 0]);
    assert_eq!(rets(&short), vec![Errno::EFAULT.neg() as i64, 0]);
    assert!(short.ops[0].snapshot.pins.iter().all(|&p| p == 0));
    assert_clean(&short);
}

/// An unpin that drops nothing.
struct NoUnpin;
impl Variant for NoUnpin {
    fn name(&self) -> &'static str {
        "test-no-unpin"
    }
    fn summary(&self) -> &'static str {
        "unpin_user_folio drops no pin"
    }
    fn unpin_user_folio(&self, _w: &mut World, _folio: FolioId, _npages: u64) {}
}

/// `io_release_ubuf()` unpins through the variant: with an unpin that
/// does nothing every folio stays pinned past ring exit.
#[test]
fn an_unpin_override_is_what_io_release_ubuf_calls() {
    let sc = four_pages("[[op]]\nop = \"unregister\"\n");
    assert_clean(&go(&Upstream, &sc));
    let r = go(&NoUnpin, &sc);
    assert_eq!(r.ops[1].snapshot.pins, vec![1, 1, 1, 1]);
    assert!(violation(&r, 2, "pins").is_some_and(|v| v.invariant == "teardown"));
}

/// An imu allocation that always fails, without a fault plan.
struct NoImu;
impl Variant for NoImu {
    fn name(&self) -> &'static str {
        "test-no-imu"
    }
    fn summary(&self) -> &'static str {
        "io_alloc_imu returns NULL"
    }
    fn io_alloc_imu(&self, _w: &mut World, _nr_bvecs: u64) -> Option<AllocId> {
        None
    }
}

/// `io_sqe_buffer_register()` allocates its imu through the variant: with
/// none to be had the registration is `-ENOMEM` and unwinds its pins.
#[test]
fn an_io_alloc_imu_override_is_what_registration_calls() {
    let r = go(&NoImu, &four_pages(""));
    assert_eq!(rets(&r), vec![Errno::ENOMEM.neg() as i64, 0]);
    assert!(r.ops[0].snapshot.pins.iter().all(|&p| p == 0));
    assert_clean(&r);
}

/// An update that refuses every slot.
struct NoUpdate;
impl Variant for NoUpdate {
    fn name(&self) -> &'static str {
        "test-no-update"
    }
    fn summary(&self) -> &'static str {
        "__io_sqe_buffers_update refuses with -EBUSY"
    }
    fn __io_sqe_buffers_update(
        &self,
        _w: &mut World,
        _offset: u32,
        _iovecs: &[Iovec],
    ) -> Result<u32, Errno> {
        Err(Errno::EBUSY)
    }
}

/// `IORING_REGISTER_BUFFERS_UPDATE` reaches `__io_sqe_buffers_update()`
/// through the variant, after `io_register_rsrc_update()`'s own checks.
#[test]
fn an_update_override_is_what_the_update_operation_calls() {
    let sc = four_pages(
        "[[op]]\nop = \"update\"\noffset = 0\niovecs = [{ kind = \"range\", start = { seg = 1, off = 0 }, end = { seg = 1, off = 4096 } }]\n",
    );
    assert_eq!(rets(&go(&Upstream, &sc)), vec![0, 1, 0]);
    assert_eq!(
        rets(&go(&NoUpdate, &sc)),
        vec![0, Errno::EBUSY.neg() as i64, 0]
    );
}

/// An estimate without the two partial folios per iovec: whole folios only.
struct TightEstimate;
impl Variant for TightEstimate {
    fn name(&self) -> &'static str {
        "test-tight-estimate"
    }
    fn summary(&self) -> &'static str {
        "io_estimate_bvec_size counts only whole folios"
    }
    fn io_estimate_bvec_size(&self, iov: &[Iovec], folio_shift: u32) -> Result<u64, Errno> {
        Ok(iov.iter().map(|v| v.iov_len >> folio_shift).sum())
    }
}

/// The estimate is asked of the variant, by `io_import_reg_vec()` and by
/// the `import` invariant alike: a READV_FIXED of two whole pages fits the
/// tight estimate, one of a page across a page boundary writes two entries
/// into one; and after the register alone, with no READV_FIXED of the
/// scenario's, the invariant's own vectored probes overflow the tight
/// capacity. Upstream's estimate has room for all of them.
#[test]
fn the_import_invariant_holds_a_variant_to_its_own_estimate() {
    let sc = four_pages(
        "[[op]]\nop = \"readv\"\nslot = 0\nddir = \"read\"\nspans = [{ start = { seg = 0, off = 0 }, end = { seg = 1, off = 4096 } }]\n\
         [[op]]\nop = \"readv\"\nslot = 0\nddir = \"read\"\nspans = [{ start = { seg = 0, off = 2048 }, end = { seg = 1, off = 2048 } }]\n",
    );
    assert_clean(&go(&Upstream, &sc));
    let r = go(&TightEstimate, &sc);
    assert_eq!(rets(&r), vec![0, 0, 0, 0]);
    let during = |op: usize| {
        violation(&r, op, "res-bvec-overflow").map(|v| v.detail.starts_with("during the operation"))
    };
    // Register: only the invariant's probes can overflow.
    assert_eq!(during(0), Some(false), "{:?}", r.ops[0].violations);
    // Whole pages: the operation itself fits; the probes after it do not.
    assert_eq!(during(1), Some(false), "{:?}", r.ops[1].violations);
    let v = violation(&r, 2, "res-bvec-overflow").unwrap();
    assert_eq!(
        v.detail,
        "during the operation: ResBvecOverflow { written: 2, capacity: 1 }"
    );
}

/// 7.2's 1 TiB limit on 7.1's types: what ca76b56a2a2a's `size_t` is for.
struct RaisedLimitNarrowLen;

impl Variant for RaisedLimitNarrowLen {
    fn name(&self) -> &'static str {
        "raised-limit-narrow-len"
    }
    fn summary(&self) -> &'static str {
        "b4e41050b212's limit with imu->len still an unsigned int"
    }
    fn io_validate_user_buf_range(
        &self,
        w: &mut World,
        uaddr: u64,
        ulen: u64,
    ) -> Result<(), Errno> {
        crate::variants::v7_2::io_validate_user_buf_range(w, uaddr, ulen)
    }
}

#[test]
fn a_limit_raised_past_the_type_of_imu_len_is_a_width_finding() {
    // Five 1 GiB pages and one buffer over all of them: 5 GiB, which an
    // unsigned int keeps as 1 GiB.
    let sc = Scenario::from_toml(
        "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"hugetlb-pud\"\n\
         [[segment]]\nfolio = 0\ncount = 5\n[[op]]\nop = \"register\"\n\
         iovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 5368709120 } }]\n",
    )
    .unwrap();
    let narrow = go(&RaisedLimitNarrowLen, &sc);
    assert_eq!(rets(&narrow)[0], 0);
    let v = violation(&narrow, 0, "io_sqe_buffer_register").expect("a widths finding");
    assert_eq!(v.invariant, "widths");
    assert!(v.detail.contains("imu->len = 0x140000000"), "{}", v.detail);
    // The same buffer on 7.2's size_t: no width finding, and no other.
    let wide = go(&crate::variants::v7_2::V72, &sc);
    assert_eq!(rets(&wide)[0], 0);
    assert!(violation(&wide, 0, "io_sqe_buffer_register").is_none());
    // Upstream refuses it (-EFAULT over 1 GiB) before any store.
    assert_eq!(rets(&go(&Upstream, &sc))[0], Errno::EFAULT.neg() as i64);
}
