//! The kernel-buffer hooks: a variant that overrides one of them changes
//! what every caller does, `io_import_fixed()`, `io_import_reg_vec()`, the
//! driver's operations and the `import` invariant's probes alike.

use super::upstream::Upstream;
use super::Variant;
use crate::mm::AllocId;
use crate::model::iov_iter::IovIter;
use crate::model::{Errno, Iovec, World};
use crate::run::{run, Run};
use crate::scenario::{build, Scenario};

/// A request of two bvecs (4 KiB of one small page, 2 KiB of another) in
/// slot 0 of a sparse table, then `ops`.
fn two_bvecs(ops: &str) -> Scenario {
    Scenario::from_toml(&format!(
        "format = 1\ngeometry = \"real\"\n\
         [[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"small\"\ngap = 1\n\
         [[op]]\nop = \"register_sparse\"\nnr = 1\n\
         [[op]]\nop = \"kbuf_register\"\nindex = 0\ndir = \"write\"\n\
         bvecs = [{{ folio = 0, off = 0, len = 4096 }}, {{ folio = 1, off = 0, len = 2048 }}]\n{ops}"
    ))
    .unwrap()
}

fn go(v: &dyn Variant, sc: &Scenario) -> Run {
    run(v, &build(sc).unwrap())
}

fn aspects(r: &Run, op: usize) -> Vec<String> {
    r.ops[op]
        .violations
        .iter()
        .map(|v| format!("{}/{}", v.invariant, v.aspect))
        .collect()
}

/// An `io_import_kbuf()` that sets the iterator up without advancing it.
struct NoAdvance;
impl Variant for NoAdvance {
    fn name(&self) -> &'static str {
        "test-no-advance"
    }
    fn summary(&self) -> &'static str {
        "io_import_kbuf forgets iov_iter_advance"
    }
    fn io_import_kbuf(
        &self,
        _w: &mut World,
        ddir: u32,
        imu: AllocId,
        len: u64,
        _offset: u64,
    ) -> Result<IovIter, Errno> {
        Ok(IovIter::bvec(ddir, imu, 0, 2, len))
    }
}

/// `io_import_fixed()` reaches a kernel buffer's import through the
/// variant: the scenario's own import past the first bvec reads the wrong
/// bytes, and so do the invariant's probes right after the registration.
#[test]
fn an_io_import_kbuf_override_is_what_io_import_fixed_calls() {
    let sc = two_bvecs(
        "[[op]]\nop = \"kbuf_import\"\nslot = 0\nddir = \"write\"\noff = 4096\nlen = 100\n",
    );
    let up = go(&Upstream, &sc);
    assert!(up.ops.iter().all(|o| o.violations.is_empty()));
    let r = go(&NoAdvance, &sc);
    assert_eq!(aspects(&r, 1), ["import/wrong-bytes"]);
    assert!(
        r.ops[2].violations[0].detail.contains("touched"),
        "{:?}",
        r.ops[2].violations
    );
}

/// An `iov_iter_advance()` that advances nothing.
struct Stuck;
impl Variant for Stuck {
    fn name(&self) -> &'static str {
        "test-stuck-iter"
    }
    fn summary(&self) -> &'static str {
        "iov_iter_advance does nothing"
    }
    fn iov_iter_advance(&self, _w: &mut World, _iter: &mut IovIter, _size: u64) {}
}

/// `io_import_kbuf()` advances through the variant's `iov_iter_advance()`.
#[test]
fn an_iov_iter_advance_override_is_what_io_import_kbuf_calls() {
    let r = go(&Stuck, &two_bvecs(""));
    assert_eq!(aspects(&r, 1), ["import/wrong-bytes"]);
}

/// A vectored import sized at one bvec per iovec, wherever it reaches.
struct OnePerIovec;
impl Variant for OnePerIovec {
    fn name(&self) -> &'static str {
        "test-one-per-iovec"
    }
    fn summary(&self) -> &'static str {
        "iov_kern_bvec_size counts one bvec per iovec"
    }
    fn iov_kern_bvec_size(&self, w: &mut World, iov: &Iovec, imu: AllocId) -> Result<u64, Errno> {
        Upstream.iov_kern_bvec_size(w, iov, imu).map(|_| 1)
    }
}

/// `io_kern_bvec_size()` counts each iovec through the variant, for a
/// READV_FIXED and for the invariant's probes: an iovec across the two
/// bvecs writes two entries into room for one.
#[test]
fn an_iov_kern_bvec_size_override_is_what_a_vectored_import_is_sized_by() {
    let sc = two_bvecs(
        "[[op]]\nop = \"kbuf_readv\"\nslot = 0\nddir = \"write\"\niovecs = [{ off = 4000, len = 200 }]\n",
    );
    assert!(go(&Upstream, &sc)
        .ops
        .iter()
        .all(|o| o.violations.is_empty()));
    let r = go(&OnePerIovec, &sc);
    let v = r.ops[2]
        .violations
        .iter()
        .find(|v| v.aspect == "res-bvec-overflow")
        .unwrap();
    assert_eq!(
        v.detail,
        "during the operation: ResBvecOverflow { written: 2, capacity: 1 }"
    );
}

/// An unregister that empties the slot and keeps the node's reference.
struct NoPut;
impl Variant for NoPut {
    fn name(&self) -> &'static str {
        "test-no-put"
    }
    fn summary(&self) -> &'static str {
        "io_buffer_unregister_bvec forgets io_put_rsrc_node"
    }
    fn io_buffer_unregister_bvec(&self, w: &mut World, index: u32) -> Result<(), Errno> {
        w.ctx.buf_table.nodes[index as usize] = None;
        Ok(())
    }
}

/// The driver's `kbuf_unregister` goes through the variant: without the
/// put, the request is never given back and the node and imu leak.
#[test]
fn an_io_buffer_unregister_bvec_override_is_what_the_driver_calls() {
    let r = go(
        &NoPut,
        &two_bvecs("[[op]]\nop = \"kbuf_unregister\"\nindex = 0\n"),
    );
    assert_eq!(aspects(&r, 2), ["allocation/leak", "kbuf/not-released"]);
    assert!(aspects(&r, 3).contains(&"teardown/leak".to_string()));
}
