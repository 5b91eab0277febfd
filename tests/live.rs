//! The live-kernel check as a test: scenarios from the generator, then the
//! files of `corpus/seeds/live/`, `shapes/` and `clone/` (and `kbuf/`, which it skips), built in this process, run on a real
//! io_uring ring and compared with the model. Skipped, with the reason,
//! where the machine cannot run it (not root, no io_uring, no huge pages).
//! Its own test binary, and one test, because it changes process-wide
//! state (RLIMIT_MEMLOCK, the huge page pool) while it runs.

use regbuf_fuzz::live::{run_cli, LiveArgs, EXIT_SKIPPED};

#[test]
fn the_upstream_model_agrees_with_the_running_kernel() {
    let out = std::env::temp_dir().join(format!("regbuf-live-test-{}", std::process::id()));
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/seeds");
    for files in [
        vec![],
        vec![
            seeds.join("live"),
            seeds.join("shapes"),
            seeds.join("clone"),
            // Skipped and counted by the operation's name: only a driver
            // registers a kernel buffer.
            seeds.join("kbuf"),
        ],
    ] {
        let code = run_cli(&LiveArgs {
            count: 120,
            seed: 5,
            json: false,
            out: out.clone(),
            files,
        });
        if code == EXIT_SKIPPED {
            eprintln!("live check skipped on this machine (reason printed above)");
            return;
        }
        assert_eq!(
            code,
            0,
            "the kernel and the model disagree: see the findings printed above and the scenarios in {}",
            out.display()
        );
    }
}
