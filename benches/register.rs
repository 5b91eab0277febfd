//! One register, the invariant probes (every import the `import` invariant
//! makes) and unregister, on the layouts the liburing fixed-buffer tests
//! use, at real and at small geometry. `model` runs the kernel model only;
//! `checked` adds every invariant after every operation, as the fuzzer does.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use regbuf_fuzz::run::{run, run_plain};
use regbuf_fuzz::scenario::{build, rescale, GeometryName, Scenario};
use regbuf_fuzz::variants::upstream::Upstream;

fn layouts() -> Vec<(&'static str, Scenario)> {
    let reg = |seg_end: u32, start: u64, end: u64| {
        format!(
            "[[op]]\nop = \"register\"\niovecs = [{{ kind = \"range\", start = {{ seg = 0, off = {start} }}, end = {{ seg = {seg_end}, off = {end} }} }}]\n[[op]]\nop = \"unregister\"\n"
        )
    };
    let hug = "[[folio]]\nkind = \"hugetlb-pmd\"\n";
    let cases = [
        ("hugetlb-2m", format!("{hug}[[segment]]\nfolio = 0\n{}", reg(0, 0, 2 << 20))),
        (
            "hugetlb-3x2m-unaligned",
            format!("{hug}{hug}{hug}[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[segment]]\nfolio = 2\n{}", reg(2, 0x1234, 2 << 20)),
        ),
        ("thp-2m", format!("[[folio]]\nkind = \"thp\"\n[[segment]]\nfolio = 0\naligned = true\n{}", reg(0, 0, 2 << 20))),
        (
            "small-64-pages",
            format!(
                "{}{}{}",
                "[[folio]]\nkind = \"small\"\n".repeat(64),
                (0..64).map(|i| format!("[[segment]]\nfolio = {i}\n")).collect::<String>(),
                reg(63, 0, 4096)
            ),
        ),
        ("hugetlb-aliased", format!("{hug}[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n{}", reg(1, 0, 2 << 20))),
    ];
    cases
        .into_iter()
        .map(|(n, body)| {
            (
                n,
                Scenario::from_toml(&format!("format = 1\ngeometry = \"real\"\n{body}"))
                    .expect("bench scenario"),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for (geo, gname) in [(GeometryName::Real, "real"), (GeometryName::Small, "small")] {
        let mut g = c.benchmark_group(format!("register-import-unregister/{gname}"));
        for (name, s) in layouts() {
            let b = build(&rescale(&s, geo)).expect("bench scenario builds");
            g.bench_with_input(BenchmarkId::new("model", name), &b, |bch, b| {
                bch.iter(|| run_plain(&Upstream, b))
            });
            g.bench_with_input(BenchmarkId::new("checked", name), &b, |bch, b| {
                bch.iter(|| run(&Upstream, b))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
