//! `decode`: any bytes give a scenario or a clean rejection, never a panic.
//! Bytes are tried both as scenario text (the corpus format, with its
//! errors) and as generator input (which must always build), and a parsed
//! scenario must survive a write/read round trip and rescaling.

use crate::scenario::{build, rescale, GeometryName, Scenario};

/// Runs one input; `Err` when decoding misbehaves.
pub fn run(data: &[u8]) -> Result<(), String> {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(s) = Scenario::from_toml(text) {
            let _ = build(&s);
            let again =
                Scenario::from_toml(&s.to_toml()).map_err(|e| format!("round trip failed: {e}"))?;
            if again != s {
                return Err(format!("round trip changed the scenario:\n{}", s.to_toml()));
            }
            for g in [GeometryName::Small, GeometryName::Real] {
                let _ = build(&rescale(&s, g));
            }
        }
    }
    let s = super::differential::scenario(data);
    build(&s).map_err(|e| format!("generator output rejected: {e}\n{}", s.to_toml()))?;
    let again = Scenario::from_toml(&s.to_toml())
        .map_err(|e| format!("generator output does not read back: {e}"))?;
    if again != s {
        return Err("generator output changed in a write/read round trip".into());
    }
    // Only x86-64's small scale has a real one to rescale to; the other
    // architectures are drawn at their own real sizes.
    if s.geometry != GeometryName::Small {
        return Ok(());
    }
    match build(&rescale(&s, GeometryName::Real)) {
        // Counts drawn at the small geometry are 64 times the pages at the
        // real one: past MAX_MAPPED_PAGES, the build says so by name.
        Err(e) if !e.over_capacity() => {
            return Err(format!("generator output rejected at real geometry: {e}"))
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn smoke_random_bytes_decode_cleanly() {
        let errs = super::super::smoke(500, super::run);
        assert!(errs.is_empty(), "{}", errs[0]);
    }

    #[test]
    fn garbage_text_is_rejected_not_panicked() {
        for t in [
            "",
            "format = 1",
            "format = 2\ngeometry = \"real\"",
            "[[segment]]\nfolio = 99",
            "\u{0}\u{ff}",
        ] {
            super::run(t.as_bytes()).unwrap();
        }
    }
}
