//! Kernel-buffer operations in files: what a request may be (refused by
//! field and reason otherwise, never a panic), and how one moves between
//! geometries and through the counted form of a file.

use super::*;

fn parse(body: &str) -> Result<Scenario, String> {
    Scenario::from_toml(&format!(
        "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"thp\"\n\
         [[op]]\nop = \"register_sparse\"\nnr = 2\n{body}"
    ))
}

fn register(bvecs: &str, extra: &str) -> String {
    format!("[[op]]\nop = \"kbuf_register\"\nindex = 0\ndir = \"read\"\nbvecs = [{bvecs}]\n{extra}")
}

#[test]
fn a_request_the_block_layer_cannot_make_is_refused_by_field() {
    let cases = [
        (register("", ""), "op[1].bvecs", "no bvecs"),
        (
            register("{ folio = 2, off = 0, len = 1 }", ""),
            "op[1].bvecs[0].folio",
            "folio 2 does not exist",
        ),
        (
            register("{ folio = 0, off = 0, len = 0 }", ""),
            "op[1].bvecs[0].len",
            "an empty bvec",
        ),
        (
            register(
                "{ folio = 1, off = 0, len = 4096 }, { folio = 0, off = 4000, len = 97 }",
                "",
            ),
            "op[1].bvecs[1].off",
            "a bvec lies in one folio",
        ),
        (
            register(
                "{ folio = 0, off = 0, len = 4096 }, { folio = 1, off = 0, len = 4096 }",
                "segments = 1\n",
            ),
            "op[1].segments",
            "at least one per bvec",
        ),
        (
            register("{ folio = 0, off = 0, len = 4096 }", "segments = 65536\n"),
            "op[1].segments",
            "unsigned short",
        ),
        (
            "[[op]]\nop = \"kbuf_import\"\nslot = 0\nddir = \"write\"\noff = 0\nlen = 1\nhold = true\n".into(),
            "op[1].hold",
            "only a read",
        ),
        (
            "[[op]]\nop = \"kbuf_readv\"\nslot = 0\nddir = \"read\"\niovecs = []\n".into(),
            "op[1].iovecs",
            "no iovecs",
        ),
    ];
    for (body, field, words) in cases {
        let e = build(&parse(&body).unwrap()).expect_err(&body);
        assert_eq!(e.field, field, "{e}");
        assert!(e.reason.contains(words), "{e}");
    }
    let many: Vec<String> = (0..=MAX_KBUF_BVECS)
        .map(|_| "{ folio = 0, off = 0, len = 1 }".to_string())
        .collect();
    let e = build(&parse(&register(&many.join(", "), "")).unwrap()).unwrap_err();
    assert_eq!(e.field, "op[1].bvecs");
    // A field the format does not have is the parser's error, named.
    let e = parse(&register("{ folio = 0, off = 0, len = 1, page = 3 }", "")).unwrap_err();
    assert!(e.contains("unknown field `page`"), "{e}");
}

#[test]
fn a_request_names_its_bytes_by_page_and_offset() {
    let s = parse(&register(
        "{ folio = 1, off = 8292, len = 5000 }",
        "segments = 3\n",
    ))
    .unwrap();
    let b = build(&s).unwrap();
    let ConcreteOp::KbufRegister { index, rq } = &b.ops[1] else {
        panic!("{:?}", b.ops[1])
    };
    let head = b.world.phys.folios()[1].head;
    assert_eq!(*index, 0);
    assert_eq!(
        (
            rq.bvecs[0].bv_page,
            rq.bvecs[0].bv_offset,
            rq.bvecs[0].bv_len
        ),
        (head + 2, 100, 5000)
    );
    assert_eq!((rq.nr_phys_segments, rq.data_dir, rq.bytes()), (3, 0, 5000));
}

#[test]
fn bvecs_and_imports_move_with_their_folio_and_bvec_edges() {
    // At the real geometry: the last 4 KiB and first 100 bytes of a THP,
    // an import from 10 bytes before the first bvec's end to 1 byte into
    // the second.
    let s = parse(&format!(
        "{}[[op]]\nop = \"kbuf_import\"\nslot = 0\nddir = \"read\"\noff = 4086\nlen = 11\n",
        register(
            "{ folio = 1, off = 2093056, len = 4096 }, { folio = 1, off = 0, len = 100 }",
            ""
        )
    ))
    .unwrap();
    let small = rescale(&s, GeometryName::Small);
    let Op::KbufRegister { bvecs, .. } = &small.ops[1] else {
        unreachable!()
    };
    // A 32 KiB THP at the small geometry: the same distances to its edges.
    assert_eq!(
        (bvecs[0].off, bvecs[0].len, bvecs[1].off, bvecs[1].len),
        (28672, 4096, 0, 100)
    );
    let Op::KbufImport { off, len, .. } = small.ops[2] else {
        unreachable!()
    };
    assert_eq!((off, len), (4086, 11));
    assert_eq!(rescale(&small, GeometryName::Real), s);
    build(&small).unwrap();
}

#[test]
fn a_bvec_in_a_counted_run_names_its_folio_by_offset_and_folds_back() {
    let text = "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"small\"\ncount = 4\n[[folio]]\nkind = \"thp\"\n\
                [[segment]]\nfolio = 0\n\
                [[op]]\nop = \"register_sparse\"\nnr = 1\n\
                [[op]]\nop = \"kbuf_register\"\nindex = 0\ndir = \"write\"\n\
                bvecs = [{ folio = 0, off = 8200, len = 100 }, { folio = 1, off = 0, len = 4096 }]\n";
    let s = Scenario::from_toml(text).unwrap();
    let Op::KbufRegister { bvecs, .. } = &s.ops[1] else {
        unreachable!()
    };
    // The third small page of the run, and the THP after the run.
    assert_eq!((bvecs[0].folio, bvecs[0].off, bvecs[1].folio), (2, 8, 4));
    let back = s.to_toml();
    assert!(back.contains("count = 4"), "{back}");
    assert_eq!(Scenario::from_toml(&back).unwrap(), s);
    let past = text.replace("off = 8200", "off = 16384");
    let e = Scenario::from_toml(&past).unwrap_err();
    assert!(
        e.starts_with("field `op[1].bvecs[0].off`: offset 0x4000 is past folio[0], a run of 4"),
        "{e}"
    );
}
