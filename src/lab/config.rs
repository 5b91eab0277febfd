//! The lab kernel's configuration: the project's fragment
//! (`lab/config/*.config`), checked against the `.config` that
//! `make tinyconfig` + the fragment + `make olddefconfig` produced, and the
//! cache key of one kernel build.

use sha2::{Digest, Sha256};

/// What the fragment asks of one option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// `CONFIG_X=value` (usually `y`).
    Value(String),
    /// `# CONFIG_X is not set`.
    Unset,
}

/// The options a fragment sets, in order: (`CONFIG_NAME`, what it wants).
pub fn fragment_options(text: &str) -> Vec<(String, Want)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("# ") {
            if let Some(name) = rest.strip_suffix(" is not set") {
                if name.starts_with("CONFIG_") && !name.contains(' ') {
                    out.push((name.to_string(), Want::Unset));
                }
            }
            continue;
        }
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if let Some((name, value)) = l.split_once('=') {
            if name.starts_with("CONFIG_") {
                out.push((name.to_string(), Want::Value(value.to_string())));
            }
        }
    }
    out
}

/// The value of each option in a `.config` (`None`: not set, either
/// `# … is not set` or absent).
pub fn dot_config_value<'a>(dot_config: &'a str, name: &str) -> Option<&'a str> {
    dot_config.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::trim)
    })
}

/// Options of the fragment that did not end up in `.config` as asked, one
/// line each: what was asked and what is there. Empty when all are.
pub fn check(fragment: &str, dot_config: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, want) in fragment_options(fragment) {
        let got = dot_config_value(dot_config, &name);
        match (&want, got) {
            (Want::Value(v), Some(g)) if g == v => {}
            (Want::Unset, None) => {}
            (Want::Value(v), got) => bad.push(format!(
                "{name}: asked {v}, .config has {}",
                got.map_or("it not set".to_string(), |g| g.to_string())
            )),
            (Want::Unset, Some(g)) => bad.push(format!("{name}: asked not set, .config has {g}")),
        }
    }
    bad
}

/// Everything a kernel build depends on, hashed into the key its build
/// directory is stamped with: the source (the package's tarball identity:
/// its version and the tarball's SHA-256), the configuration fragment, the
/// patches in the order they apply, the compiler, and the lab's build
/// recipe version. A build is reused only when the key is the same.
#[derive(Clone, Debug)]
pub struct KeyParts<'a> {
    /// Identity of the kernel source (e.g. `linux-source-6.12 6.12.117-1
    /// sha256:…`).
    pub source: &'a str,
    /// The configuration fragment's text.
    pub fragment: &'a str,
    /// The patches' texts, in order.
    pub patches: &'a [String],
    /// `gcc` or `clang`, with its version line.
    pub cc: &'a str,
    /// The recipe (make targets and flags) the lab builds with.
    pub recipe: &'a str,
}

/// The cache key of a kernel build: hex SHA-256 over the parts, each
/// length-prefixed so that moving text from one part to the next changes
/// the key.
pub fn cache_key(k: &KeyParts<'_>) -> String {
    let mut h = Sha256::new();
    let mut part = |tag: &str, text: &str| {
        h.update(tag.as_bytes());
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    };
    part("source", k.source);
    part("fragment", k.fragment);
    part("patches", &k.patches.len().to_string());
    for p in k.patches {
        part("patch", p);
    }
    part("cc", k.cc);
    part("recipe", k.recipe);
    hex(&h.finalize())
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAG: &str = "\
# comment
CONFIG_KASAN=y
CONFIG_KASAN_GENERIC=y
# CONFIG_SLUB_TINY is not set

CONFIG_LOG_BUF_SHIFT=17
";

    #[test]
    fn fragment_is_read_with_unset_lines() {
        let o = fragment_options(FRAG);
        assert_eq!(
            o,
            vec![
                ("CONFIG_KASAN".into(), Want::Value("y".into())),
                ("CONFIG_KASAN_GENERIC".into(), Want::Value("y".into())),
                ("CONFIG_SLUB_TINY".into(), Want::Unset),
                ("CONFIG_LOG_BUF_SHIFT".into(), Want::Value("17".into())),
            ]
        );
    }

    #[test]
    fn checker_accepts_a_matching_config() {
        let dot = "CONFIG_KASAN=y\nCONFIG_KASAN_GENERIC=y\n# CONFIG_SLUB_TINY is not set\nCONFIG_LOG_BUF_SHIFT=17\nCONFIG_OTHER=m\n";
        assert!(check(FRAG, dot).is_empty());
        // Absent counts as not set.
        let dot = "CONFIG_KASAN=y\nCONFIG_KASAN_GENERIC=y\nCONFIG_LOG_BUF_SHIFT=17\n";
        assert!(check(FRAG, dot).is_empty());
    }

    #[test]
    fn checker_names_each_option_olddefconfig_dropped() {
        // KASAN dropped (a dependency missing), SLUB_TINY still on, a
        // value changed; CONFIG_KASAN_GENERICX must not match CONFIG_KASAN_GENERIC.
        let dot = "# CONFIG_KASAN is not set\nCONFIG_KASAN_GENERICX=y\nCONFIG_SLUB_TINY=y\nCONFIG_LOG_BUF_SHIFT=14\n";
        let bad = check(FRAG, dot);
        assert_eq!(
            bad,
            vec![
                "CONFIG_KASAN: asked y, .config has it not set",
                "CONFIG_KASAN_GENERIC: asked y, .config has it not set",
                "CONFIG_SLUB_TINY: asked not set, .config has y",
                "CONFIG_LOG_BUF_SHIFT: asked 17, .config has 14",
            ]
        );
    }

    #[test]
    fn the_projects_fragment_asks_for_what_the_lab_needs() {
        let text = include_str!("../../lab/config/lab.config");
        let names: Vec<String> = fragment_options(text).into_iter().map(|(n, _)| n).collect();
        for need in [
            "CONFIG_64BIT",
            "CONFIG_SERIAL_8250_CONSOLE",
            "CONFIG_BLK_DEV_INITRD",
            "CONFIG_HUGETLBFS",
            "CONFIG_TRANSPARENT_HUGEPAGE",
            "CONFIG_IO_URING",
            "CONFIG_PROC_PAGE_MONITOR",
            "CONFIG_KASAN",
            "CONFIG_DEBUG_VM",
            "CONFIG_PANIC_ON_OOPS",
        ] {
            assert!(names.iter().any(|n| n == need), "{need} missing");
        }
    }

    fn key(source: &str, frag: &str, patches: &[String], cc: &str) -> String {
        cache_key(&KeyParts {
            source,
            fragment: frag,
            patches,
            cc,
            recipe: "r1",
        })
    }

    #[test]
    fn cache_key_changes_with_every_part_and_only_then() {
        let p1 = vec!["patch one".to_string()];
        let base = key("src", "frag", &p1, "gcc");
        assert_eq!(base.len(), 64);
        assert_eq!(base, key("src", "frag", &p1, "gcc"));
        assert_ne!(base, key("src2", "frag", &p1, "gcc"));
        assert_ne!(base, key("src", "frag2", &p1, "gcc"));
        assert_ne!(base, key("src", "frag", &["patch two".to_string()], "gcc"));
        assert_ne!(base, key("src", "frag", &[], "gcc"));
        assert_ne!(base, key("src", "frag", &p1, "clang"));
        // Text moved between parts is a different key.
        assert_ne!(key("ab", "c", &[], "gcc"), key("a", "bc", &[], "gcc"));
        // Two patches are not their concatenation.
        assert_ne!(
            key("s", "f", &["ab".into(), "c".into()], "gcc"),
            key("s", "f", &["a".into(), "bc".into()], "gcc")
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
