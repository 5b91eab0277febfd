use super::*;
use crate::corpus;

fn form(name: &str) -> (Scenario, ProgramForm) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/findings/rfc-v1")
        .join(name);
    let s = corpus::load(&path).expect("corpus file loads");
    let f = program_form(&s, variants::by_name("rfc-v1").unwrap()).expect("program form");
    (s, f)
}

#[test]
fn the_straddling_read_expects_the_byte_after_the_alias_boundary_at_page_0() {
    let (_, f) = form("rfc-v1--invariant-coverage-outside-pins.toml");
    // Scenario op 0 registers; the first probe reads the whole 2-byte buffer.
    assert_eq!(f.origins[0], Origin::Scenario(0));
    let read = &f.expects[1];
    assert_eq!(read.ret, 2);
    assert_eq!(
        read.pieces.as_deref(),
        Some(
            &[
                Piece {
                    folio: 0,
                    off: 0x1f_ffff,
                    len: 1,
                    k: 0
                },
                Piece {
                    folio: 0,
                    off: 0,
                    len: 1,
                    k: 1
                },
            ][..]
        ),
        "upstream: the second byte is page 0 of the same folio, through the alias"
    );
    let effects = header::variant_effects(&f).join("\n");
    assert!(effects.contains("0x1001fffff+0x2"), "{effects}");
}

#[test]
fn the_header_says_what_rfc_v1_does_with_the_aliased_buffer() {
    let (_, f) = form("rfc-v1--invariant-coverage-length.toml");
    let c = c::render(Path::new("x.toml"), &f);
    let flat = c.replace("\n *     ", " ").replace("\n * ", " ");
    assert!(
        flat.contains("rfc-v1 gives it 1 bvec, folio_shift 21"),
        "{flat}"
    );
    assert!(
        flat.contains("(0x200000 bytes for a 0x400000-byte buffer)"),
        "{flat}"
    );
    assert!(flat.contains("upstream gives it 2 bvecs"), "{flat}");
    assert!(
        flat.contains("at +0x200000: moves nothing where upstream moves 0x100000000+0x1000"),
        "the read from offset 2 MiB: {flat}"
    );
    assert!(flat.contains("must PASS"), "{flat}");
    // The tables come from the live check's plan.
    let plan = f.plan.as_ref().unwrap();
    assert_eq!(plan.segments.len(), 2);
    assert!(
        c.contains("{ 0x200000UL, 0x200000UL, 0, 0, 0 }, /* seg 1 */"),
        "{c}"
    );
}

#[test]
fn a_small_geometry_file_with_faults_runs_at_real_geometry_without_them() {
    let (s, f) = form("rfc-v1--invariant-pins-count.toml");
    assert_eq!(s.geometry, GeometryName::Small);
    assert_eq!(f.scenario.geometry, GeometryName::Real);
    assert!(f.scenario.faults.points.is_empty());
    let c = c::render(Path::new("x.toml"), &f).replace("\n * ", " ");
    assert!(c.contains("runs it at the real one"), "{c}");
    assert!(c.contains("runs the operations without them"), "{c}");
    assert!(f.upstream.ops.iter().all(|o| o.violations.is_empty()));
}

#[test]
fn the_pins_finding_is_told_as_pins_left_at_ring_exit() {
    let (_, f) = form("rfc-v1--invariant-pins-underflow.toml");
    let effects = header::variant_effects(&f).join("\n");
    assert!(
        effects.contains("at ring exit: folio 1 (hugetlb-pmd) holds 512 pins"),
        "{effects}"
    );
    assert!(
        effects.contains("folio 0 (hugetlb-pmd) holds -512 pins on rfc-v1, 0 pins upstream"),
        "{effects}"
    );
    assert!(
        effects.contains("folio 1 (hugetlb-pmd) holds 512 pins on rfc-v1, 0 pins upstream"),
        "{effects}"
    );
    assert!(effects.contains("HugePages_Free stays short"), "{effects}");
}
