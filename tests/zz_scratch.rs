use regbuf_fuzz::*;
#[test]
fn scratch() {
    let gen = gen::GenConfig::default();
    let up = variants::by_name("upstream").unwrap();
    let rfc = variants::by_name("rfc-v1").unwrap();
    let mut shown = 0;
    let mut hist = std::collections::BTreeMap::new();
    for i in 0..3000 {
        let s = campaign::draw(7, i, &gen);
        let p = |c: &scenario::Scenario| oracle::check(c, rfc, up).ok().and_then(|(v, _, _)| v.primary());
        let want = p(&s);
        if want.is_some() {
            let m = minimize::minimize(&s, &mut |c| p(c) == want);
            let z = m.size();
            *hist.entry((want.clone(), z.segments, z.folios, z.ops, z.iovecs)).or_insert(0) += 1;
            if (z.ops > 1 || z.segments > 2) && shown < 4 {
                shown += 1;
                eprintln!("---- {want:?}\n{}", m.to_toml());
            }
        }
    }
    eprintln!("{hist:#?}");
}
