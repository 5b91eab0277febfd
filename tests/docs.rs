//! The book's links and every repository path the README and the book
//! name resolve: a moved or renamed file breaks this test, not a reader.
//! And the book's list of overridable functions is the trait's.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("docs/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_page_is_in_the_summary_and_every_summary_link_is_a_page() {
    let summary = std::fs::read_to_string(root().join("docs/src/SUMMARY.md")).unwrap();
    let links: Vec<&str> = summary
        .split("](")
        .skip(1)
        .map(|rest| &rest[..rest.find(')').unwrap()])
        .collect();
    for l in &links {
        assert!(
            root().join("docs/src").join(l).is_file(),
            "SUMMARY.md links to a missing page: {l}"
        );
    }
    for p in pages() {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(
            name == "SUMMARY.md" || links.contains(&name),
            "docs/src/{name} is not in SUMMARY.md"
        );
        let first = std::fs::read_to_string(&p).unwrap();
        assert!(
            first.starts_with("# "),
            "docs/src/{name} does not open with a title"
        );
    }
}

/// A path in backquotes that starts at a top-level directory of the
/// repository: `corpus/findings/rfc-v1/`, `src/model/sizeof.rs`.
fn named_paths(text: &str) -> Vec<String> {
    const TOP: [&str; 10] = [
        "corpus/",
        "docs/",
        "src/",
        "bench/",
        "examples/",
        "tests/",
        "patches/",
        "scripts/",
        "fuzz/",
        "lab/",
    ];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| TOP.iter().any(|t| s.starts_with(t)))
        .filter(|s| !s.contains(char::is_whitespace))
        .map(|s| s.trim_end_matches([',', '.', ':']).to_string())
        .collect()
}

#[test]
fn every_repository_path_the_readme_and_the_book_name_exists() {
    let mut files = vec![root().join("README.md"), root().join("corpus/README.md")];
    files.extend(pages());
    let mut missing = Vec::new();
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for p in named_paths(&text) {
            // Placeholders and patterns stand for many files, or for the
            // reader's own.
            // Directories the tools write (`mdbook build`, libFuzzer) are
            // not in a clean checkout.
            const WRITTEN: [&str; 2] = ["docs/book/", "fuzz/artifacts/"];
            if p.contains(['<', '*', '…'])
                || ["my_patch", "my-patch", "my-case"]
                    .iter()
                    .any(|m| p.contains(m))
                || WRITTEN.iter().any(|w| p.starts_with(w))
            {
                continue;
            }
            checked += 1;
            if !Path::new(&root()).join(&p).exists() {
                missing.push(format!(
                    "{}: {p}",
                    f.strip_prefix(root()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths found: the scan is broken"
    );
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n{}",
        missing.join("\n")
    );
}

/// `regbuf-fuzz --help` and each subcommand's help end with the line
/// naming the book page that documents it (from `cli::BOOK`); every
/// subcommand has one, and every page named exists.
#[test]
fn every_help_ends_with_a_book_page_that_exists() {
    use regbuf_fuzz::cli::{book_line, command, BOOK, JSON_PAGE};
    let named: Vec<&str> = BOOK.iter().map(|&(n, _, _)| n).collect();
    for sub in command().get_subcommands() {
        assert!(
            named.contains(&sub.get_name()),
            "`{}` has no page in cli::BOOK",
            sub.get_name()
        );
    }
    assert!(root().join(JSON_PAGE).is_file(), "{JSON_PAGE} is missing");
    for &(name, page, json) in BOOK {
        assert!(
            root().join(page).is_file(),
            "cli::BOOK names {page} for `{name}`, which does not exist"
        );
        let mut args: Vec<&str> = name.split_whitespace().collect();
        args.push("--help");
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_regbuf-fuzz"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let help = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            help.trim_end().lines().last(),
            Some(book_line(page, json).as_str()),
            "{args:?}:\n{help}"
        );
    }
}

/// "Adding a variant" names every hook, so a function made overridable is
/// not missing from the page that says what can be overridden.
#[test]
fn adding_a_variant_names_every_overridable_function() {
    let page = std::fs::read_to_string(root().join("docs/src/variants.md")).unwrap();
    for h in regbuf_fuzz::variants::HOOKS {
        assert!(
            page.contains(&format!("`{h}`")),
            "docs/src/variants.md does not name `{h}`"
        );
    }
}
