//! Hand-worked cases with exact numbers, derived by reading rsrc.c.

use crate::mm::{AllocSite, FaultPlan, FaultPoint, Geometry};
use crate::model::{rsrc, Errno, Event, World};
use crate::run::run;
use crate::scenario::{build, Scenario};
use crate::variants::upstream::Upstream;

const MIB2: u64 = 2 << 20;

fn scenario(body: &str) -> Scenario {
    Scenario::from_toml(&format!("format = 1\ngeometry = \"real\"\n{body}"))
        .expect("test scenario parses")
}

fn register_range(seg_end: u32, start: u64, end: u64) -> String {
    format!(
        "[[op]]\nop = \"register\"\niovecs = [{{ kind = \"range\", start = {{ seg = 0, off = {start} }}, end = {{ seg = {seg_end}, off = {end} }} }}]\n"
    )
}

const ONE_HUGETLB: &str = "[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n";

/// Runs upstream and returns the state after op 0, asserting no invariant broke anywhere.
fn clean_run(s: &Scenario) -> crate::run::Run {
    let b = build(s).expect("builds");
    let r = run(&Upstream, &b);
    for (i, op) in r.ops.iter().enumerate() {
        assert!(
            op.violations.is_empty(),
            "op {i} ({}): {:?}",
            op.kind,
            op.violations
        );
    }
    r
}

#[test]
fn one_2mib_hugetlb_page_is_one_bvec_of_shift_21_accounting_512() {
    let r = clean_run(&scenario(&format!(
        "{ONE_HUGETLB}{}",
        register_range(0, 0, MIB2)
    )));
    let slot = r.ops[0].snapshot.slots[0].as_ref().unwrap();
    assert_eq!(
        (slot.nr_bvecs, slot.folio_shift, slot.acct_pages),
        (1, 21, Some(512))
    );
    assert_eq!(r.ops[0].snapshot.pins, vec![1]);
    assert_eq!(r.ops[0].snapshot.pinned_vm, 512);
    assert_eq!(r.ops[1].snapshot.pins, vec![0], "ring exit unpins");
}

#[test]
fn unaligned_start_inside_a_huge_page_keeps_the_head_page_and_offset() {
    let s = scenario(&format!("{ONE_HUGETLB}{}", register_range(0, 0x1234, MIB2)));
    let b = build(&s).unwrap();
    let mut w = b.world.clone();
    let crate::scenario::ConcreteOp::Register { iovecs } = &b.ops[0] else {
        unreachable!()
    };
    crate::model::rsrc::io_sqe_buffers_register(&Upstream, &mut w, Some(iovecs), 1).unwrap();
    let node = w.ctx.buf_table.nodes[0].unwrap();
    let imu = w.imu(w.nodes[&node].buf.unwrap());
    let bv = imu.bvec.get(0).unwrap();
    assert_eq!(imu.nr_bvecs, 1);
    assert_eq!(imu.folio_shift, 21);
    assert_eq!(
        bv.bv_page,
        w.phys.folios()[0].head,
        "bv_page is the head page"
    );
    assert_eq!((bv.bv_offset, bv.bv_len), (0x1234, MIB2 - 0x1234));
    clean_run(&s);
}

#[test]
fn a_huge_page_next_to_small_pages_is_not_coalesced() {
    for huge_on_left in [true, false] {
        // The small page sits right before or after the huge one (a hole
        // pads the small page up to the huge page's alignment on the right).
        let (folios, segs, range) = if huge_on_left {
            (
                "[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"small\"\n",
                "[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n",
                register_range(1, 0, 4096),
            )
        } else {
            (
                "[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n",
                "[[segment]]\npages = 511\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n",
                register_range(2, 0, MIB2).replace("seg = 0, off = 0", "seg = 1, off = 0"),
            )
        };
        let s = scenario(&format!("{folios}{segs}{range}"));
        let r = clean_run(&s);
        assert_eq!(r.ops[0].ret, 0, "huge_on_left {huge_on_left}");
        let slot = r.ops[0].snapshot.slots[0].as_ref().unwrap();
        assert_eq!(
            (slot.nr_bvecs, slot.folio_shift, slot.acct_pages),
            (513, 12, Some(513)),
            "huge_on_left {huge_on_left}"
        );
    }
}

#[test]
fn a_failed_coalesce_allocation_gives_an_uncoalesced_success() {
    let mut s = scenario(&format!("{ONE_HUGETLB}{}", register_range(0, 0, MIB2)));
    s.faults = FaultPlan {
        points: vec![FaultPoint::Site {
            site: AllocSite::CoalesceNewArray,
            nth: 0,
        }],
    };
    let r = clean_run(&s);
    assert_eq!(r.ops[0].ret, 0);
    assert_eq!(r.ops[0].faults_fired, vec![AllocSite::CoalesceNewArray]);
    let slot = r.ops[0].snapshot.slots[0].as_ref().unwrap();
    assert_eq!(
        (slot.nr_bvecs, slot.folio_shift, slot.acct_pages),
        (512, 12, Some(512))
    );
    assert_eq!(
        r.ops[0].snapshot.pins,
        vec![512],
        "one pin per uncoalesced entry"
    );
}

#[test]
fn bad_iovecs_get_efault() {
    for (iov, want) in [
        ("{ kind = \"null\", len = { bytes = 4096 } }", -14),
        (
            "{ kind = \"sized\", start = { seg = 0, off = 0 }, len = {} }",
            -14,
        ),
        (
            "{ kind = \"sized\", start = { seg = 0, off = 0 }, len = { pud = 1, bytes = 1 } }",
            -14,
        ),
        (
            "{ kind = \"raw\", base = \"0xfffffffffffff000\", len = 8192 }",
            -75,
        ),
        ("{ kind = \"null\" }", 0),
        // iovec_from_user: a length that does not fit in ssize_t.
        (
            "{ kind = \"raw\", base = 4096, len = \"0x8000000000000000\" }",
            -22,
        ),
    ] {
        let s = scenario(&format!(
            "{ONE_HUGETLB}[[op]]\nop = \"register\"\niovecs = [{iov}]\n"
        ));
        let r = clean_run(&s);
        assert_eq!(r.ops[0].ret, want, "{iov}");
    }
}

#[test]
fn a_hole_or_a_readonly_page_fails_with_efault_and_unpins() {
    for seg in [
        "[[segment]]\npages = 1\n",
        "[[segment]]\nfolio = 1\nreadonly = true\n",
    ] {
        let s = scenario(&format!(
            "[[folio]]\nkind = \"thp\"\n[[folio]]\nkind = \"small\"\n[[segment]]\nfolio = 0\naligned = true\n{seg}{}",
            register_range(1, 0, 4096)
        ));
        let r = clean_run(&s);
        assert_eq!(r.ops[0].ret, -14);
        assert!(r.ops[0].snapshot.pins.iter().all(|&p| p == 0));
    }
}

#[test]
fn memlock_limit_is_enforced_per_whole_huge_page() {
    let body = format!("{ONE_HUGETLB}{}", register_range(0, 0, 4096));
    let over = scenario(&format!("memlock = {{ pages = 511 }}\n{body}"));
    assert_eq!(
        clean_run(&over).ops[0].ret,
        -12,
        "one 4 KiB slice of a huge page charges all 512 pages"
    );
    // The ring's own rings and SQEs take 2 pages of the limit at setup.
    let short = scenario(&format!("memlock = {{ pmd = 1, pages = 1 }}\n{body}"));
    assert_eq!(
        clean_run(&short).ops[0].ret,
        -12,
        "512 pages plus the ring's 2 do not fit in 513"
    );
    let fits = scenario(&format!("memlock = {{ pmd = 1, pages = 2 }}\n{body}"));
    let r = clean_run(&fits);
    assert_eq!(r.ops[0].ret, 0);
    assert_eq!(r.ops[0].snapshot.locked_vm, Some(514));
    assert_eq!(
        r.ops[0].snapshot.pinned_vm, 512,
        "the ring's regions are not in pinned_vm"
    );
}

#[test]
fn two_slices_of_one_huge_page_are_charged_once() {
    // liburing regbuf-clone.c test_merge: sparse table, then two 4 KiB
    // slices of one 2 MiB hugetlb page in one update.
    let s = scenario(&format!(
        "{ONE_HUGETLB}[[op]]\nop = \"register_sparse\"\nnr = 8\n[[op]]\nop = \"update\"\noffset = 4\niovecs = [\n  {{ kind = \"range\", start = {{ seg = 0, off = 0 }}, end = {{ seg = 0, off = 4096 }} }},\n  {{ kind = \"range\", start = {{ seg = 0, off = 4096 }}, end = {{ seg = 0, off = 8192 }} }},\n]\n"
    ));
    let r = clean_run(&s);
    assert_eq!(r.ops[1].ret, 2);
    let acct: Vec<Option<u64>> = r.ops[1]
        .snapshot
        .slots
        .iter()
        .flatten()
        .map(|s| s.acct_pages)
        .collect();
    assert_eq!(acct, vec![Some(512), Some(0)]);
}

/// Fails allocation call i for every i (wasmtime's OomTest): each run either
/// succeeds or fails with -ENOMEM, and every invariant holds throughout.
#[test]
fn every_single_allocation_failure_unwinds_cleanly() {
    let s = scenario(
        "[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"thp\"\n\
         [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[segment]]\nfolio = 2\npages = 40\n\
         [[op]]\nop = \"register\"\niovecs = [\n  { kind = \"range\", start = { seg = 0, off = 4096 }, end = { seg = 0, off = 2097152 } },\n  { kind = \"range\", start = { seg = 1, off = 0 }, end = { seg = 2, off = 163840 } },\n]\n\
         [[op]]\nop = \"update\"\noffset = 0\niovecs = [{ kind = \"null\" }, { kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 8192 } }]\n[[op]]\nop = \"unregister\"\n",
    );
    let calls = clean_run(&s).alloc_calls;
    assert!(
        calls >= 8,
        "the scenario reaches every kind of site ({calls} calls)"
    );
    let mut failures = 0;
    for call in 0..calls {
        let mut f = s.clone();
        f.faults = FaultPlan {
            points: vec![FaultPoint::Call { call }],
        };
        let r = clean_run(&f);
        let rets: Vec<i64> = r.ops.iter().map(|o| o.ret).collect();
        failures += rets.iter().filter(|&&x| x == -12).count();
        // A failed register leaves no table, so what follows sees -ENXIO.
        let first_err = rets.iter().position(|&x| x < 0);
        if let Some(i) = first_err {
            assert_eq!(rets[i], -12, "call {call}: {rets:?}");
            assert!(
                rets[i + 1..].iter().all(|&x| x >= 0 || x == -6 || x == -12),
                "call {call}: {rets:?}"
            );
        }
    }
    assert!(failures > 0);
}

/// A read held in flight keeps its buffer's node: an update that replaces
/// the slot leaves the old buffer pinned and charged until the request is
/// freed; then the node's last reference unmaps it.
#[test]
fn a_request_in_flight_keeps_the_replaced_buffer_pinned_until_it_completes() {
    let body = "[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"small\"\n\
        [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n\
        [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 0 } }]\n\
        [[op]]\nop = \"import\"\nslot = 0\nddir = \"read\"\nspan = { start = { seg = 0, off = 4096 }, end = { seg = 0, off = 12288 } }\nhold = true\n\
        [[op]]\nop = \"update\"\noffset = 0\niovecs = [{ kind = \"range\", start = { seg = 1, off = 0 }, end = { seg = 1, off = 4096 } }]\n\
        [[op]]\nop = \"complete\"\n\
        [[op]]\nop = \"complete\"\n";
    let r = clean_run(&scenario(body));
    let pinned: Vec<u64> = r.ops.iter().map(|o| o.snapshot.pinned_vm).collect();
    let pins: Vec<Vec<i64>> = r.ops.iter().map(|o| o.snapshot.pins.clone()).collect();
    // register 512; held import; update adds the small page while the held
    // request keeps the huge page; complete drops it; a second complete
    // finds nothing in flight; ring exit.
    assert_eq!(pinned, vec![512, 512, 513, 1, 1, 0]);
    assert_eq!(pins[2], vec![1, 1], "the replaced buffer is still pinned");
    assert_eq!(pins[3], vec![0, 1]);
    assert_eq!(
        r.ops[3].import.as_ref().map(|v| v.len()),
        Some(1),
        "the completion moves the held bytes"
    );
    assert_eq!(r.ops[4].import, None);
}

/// The same request left in flight at ring exit is canceled before the
/// buffers go: nothing leaks.
#[test]
fn a_request_still_in_flight_at_ring_exit_is_canceled_and_freed() {
    let body = format!(
        "{ONE_HUGETLB}{}[[op]]\nop = \"import\"\nslot = 0\nddir = \"read\"\nspan = {{ start = {{ seg = 0, off = 0 }}, end = {{ seg = 0, off = 4096 }} }}\nhold = true\n\
         [[op]]\nop = \"unregister\"\n",
        register_range(0, 0, MIB2)
    );
    let r = clean_run(&scenario(&body));
    assert_eq!(
        r.ops[2].snapshot.pinned_vm, 512,
        "unregister leaves the held buffer"
    );
    assert_eq!(r.ops[2].snapshot.pins, vec![1]);
    assert_eq!(r.ops[3].snapshot.pins, vec![0], "ring exit frees it");
}

#[test]
fn a_held_write_is_refused_with_its_field() {
    let body = format!(
        "{ONE_HUGETLB}{}[[op]]\nop = \"import\"\nslot = 0\nddir = \"write\"\nspan = {{ start = {{ seg = 0, off = 0 }}, end = {{ seg = 0, off = 4096 }} }}\nhold = true\n",
        register_range(0, 0, MIB2)
    );
    let e = build(&scenario(&body)).unwrap_err();
    assert!(e.to_string().contains("op[1].hold"), "{e}");
}

/// `io_rsrc_node_alloc()` clears `file_ptr`, the union `buf` shares: a
/// recycled node does not bring its old buffer back, and freeing a node
/// whose `buf` is NULL is the oops the kernel would have.
#[test]
fn a_recycled_node_comes_back_without_its_buffer_and_freeing_it_so_is_an_oops() {
    let mut w = World::new(Geometry::REAL, None, FaultPlan::default());
    let node = rsrc::io_rsrc_node_alloc(&mut w).unwrap();
    w.nodes.get_mut(&node).unwrap().buf = Some(crate::mm::AllocId(7));
    w.io_cache_free(false, node);
    let again = rsrc::io_rsrc_node_alloc(&mut w).unwrap();
    assert_eq!(again, node, "the cache gives the same object back");
    assert_eq!(w.nodes[&again].buf, None);
    rsrc::io_free_rsrc_node(&Upstream, &mut w, again);
    assert!(
        matches!(&w.events[..], [Event::Oops { site }] if site.starts_with("io_free_rsrc_node:")),
        "{:?}",
        w.events
    );
}

/// A FOLL_LONGTERM pin that stops part-way (a page it could not migrate):
/// with pages pinned, io_pin_pages() unpins them and returns -EFAULT; with
/// none, the error comes through. Nothing stays pinned or charged.
#[test]
fn a_gup_that_stops_part_way_unwinds_and_a_gup_that_pins_nothing_returns_its_error() {
    for (pinned, errno, ret) in [
        (100, Errno::EBUSY, -14),
        (0, Errno::EBUSY, -16),
        (0, Errno::EAGAIN, -11),
        (511, Errno::ENOMEM, -14),
        (512, Errno::ENOMEM, 0),
    ] {
        let mut s = scenario(&format!("{ONE_HUGETLB}{}", register_range(0, 0, MIB2)));
        s.faults = FaultPlan {
            points: vec![FaultPoint::Gup {
                nth: 0,
                pinned,
                errno,
            }],
        };
        let r = clean_run(&s);
        assert_eq!(r.ops[0].ret, ret, "{pinned} pages then {errno}");
        let pins = if ret == 0 { 1 } else { 0 };
        assert_eq!(r.ops[0].snapshot.pins, vec![pins], "{pinned} then {errno}");
        assert_eq!(r.ops[0].snapshot.pinned_vm, 512 * pins as u64);
    }
}

/// An iovec array that runs into unmapped memory: IORING_REGISTER_BUFFERS
/// fails as a whole with -EFAULT and frees what it registered before the
/// fault; an update installs the slots before it and returns their count.
#[test]
fn an_iovec_read_that_faults_fails_a_register_whole_and_cuts_an_update_short() {
    let range = |a: u64, b: u64| {
        format!("{{ kind = \"range\", start = {{ seg = 0, off = {a} }}, end = {{ seg = 0, off = {b} }} }}")
    };
    let three = [range(0, 4096), range(4096, 8192), range(8192, 12288)].join(", ");
    let faulted = |ops: String| {
        let mut s = scenario(&format!("{ONE_HUGETLB}{ops}"));
        s.faults = FaultPlan {
            points: vec![FaultPoint::CopyFromUser { nth: 1 }],
        };
        clean_run(&s)
    };
    let r = faulted(format!("[[op]]\nop = \"register\"\niovecs = [{three}]\n"));
    assert_eq!(r.ops[0].ret, -14);
    assert!(r.ops[0].snapshot.slots.is_empty(), "no table");
    assert_eq!(
        (r.ops[0].snapshot.pins.clone(), r.ops[0].snapshot.pinned_vm),
        (vec![0], 0)
    );
    let r = faulted(format!(
        "[[op]]\nop = \"register_sparse\"\nnr = 3\n[[op]]\nop = \"update\"\noffset = 0\niovecs = [{three}]\n"
    ));
    assert_eq!(r.ops[1].ret, 1, "the first slot is updated");
    let installed = r.ops[1]
        .snapshot
        .slots
        .iter()
        .filter(|s| s.is_some())
        .count();
    assert_eq!(installed, 1);
}
