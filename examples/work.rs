//! What the fast path saves: for common buffers at real geometry, the loop
//! iterations over the page array and the allocations of one
//! IORING_REGISTER_BUFFERS on upstream 7.1-rc1, RFC v1 and rfc-v1-fixed.
//! Counts come from the model (`World::work`, the allocation ledger), so
//! they are exact for the modelled code, not timings.
//!
//! Usage: cargo run --release --example work

use regbuf_fuzz::model::rsrc::io_sqe_buffers_register;
use regbuf_fuzz::scenario::{build, ConcreteOp, Scenario};
use regbuf_fuzz::variants::by_name;

/// (name, folios, segments, end of the range in the last segment).
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "2 MiB hugetlb, whole",
        "[[folio]]\nkind = \"hugetlb-pmd\"\n",
        "[[segment]]\nfolio = 0\n",
        "start = { seg = 0, off = 0 }, end = { seg = 0, off = 2097152 }",
    ),
    (
        "2 MiB hugetlb, 64 KiB inside",
        "[[folio]]\nkind = \"hugetlb-pmd\"\n",
        "[[segment]]\nfolio = 0\n",
        "start = { seg = 0, off = 65536 }, end = { seg = 0, off = 131072 }",
    ),
    (
        "1 GiB hugetlb, whole",
        "[[folio]]\nkind = \"hugetlb-pud\"\n",
        "[[segment]]\nfolio = 0\n",
        "start = { seg = 0, off = 0 }, end = { seg = 0, off = 1073741824 }",
    ),
    (
        "two 2 MiB hugetlb pages, 4 MiB",
        "[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n",
        "[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n",
        "start = { seg = 0, off = 0 }, end = { seg = 1, off = 2097152 }",
    ),
    (
        "2 MiB THP, whole",
        "[[folio]]\nkind = \"thp\"\n",
        "[[segment]]\nfolio = 0\naligned = true\n",
        "start = { seg = 0, off = 0 }, end = { seg = 0, off = 2097152 }",
    ),
];

/// 64 small pages, each its own folio, mapped in order.
fn small_pages() -> (String, String) {
    let folios = "[[folio]]\nkind = \"small\"\n".repeat(64);
    let segs: String = (0..64)
        .map(|i| format!("[[segment]]\nfolio = {i}\n"))
        .collect();
    (folios, segs)
}

fn main() {
    let names = ["upstream", "rfc-v1", "rfc-v1-fixed"];
    println!("| buffer | variant | check_coalesce | coalesce | account_pin | headpage_scan | allocations |");
    println!("|---|---|---|---|---|---|---|");
    let (small_folios, small_segs) = small_pages();
    let small = (
        "64 small pages",
        small_folios.as_str(),
        small_segs.as_str(),
        "start = { seg = 0, off = 0 }, end = { seg = 63, off = 4096 }",
    );
    for (name, folios, segs, range) in CASES.iter().chain([&small]) {
        let text = format!(
            "format = 1\ngeometry = \"real\"\n{folios}{segs}[[op]]\nop = \"register\"\niovecs = [{{ kind = \"range\", {range} }}]\n"
        );
        let s = Scenario::from_toml(&text).expect("case parses");
        let b = build(&s).expect("case builds");
        let ConcreteOp::Register { iovecs } = &b.ops[0] else {
            unreachable!("one register op")
        };
        for v in names {
            let mut w = b.world.clone();
            io_sqe_buffers_register(by_name(v).expect("variant"), &mut w, Some(iovecs), 1)
                .expect("registers");
            let k = w.work;
            let allocs: Vec<String> = w.alloc.log.iter().map(|(s, _)| format!("{s:?}")).collect();
            println!(
                "| {name} | {v} | {} | {} | {} | {} | {} ({}) |",
                k.check_coalesce,
                k.coalesce,
                k.account_pin,
                k.headpage_scan,
                allocs.len(),
                allocs.join(", ")
            );
        }
    }
}
