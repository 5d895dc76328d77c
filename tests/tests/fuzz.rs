//! Fuzzing on stable Rust, bounded: every parser that takes outside bytes gets arbitrary bytes
//! and mutations of real inputs; none may panic. `FUZZ_CASES` raises the count (default 300 per
//! target); `cargo bench -p sigstore-lite-tests --bench fuzz` runs the same targets for longer.

mod fuzz_targets;

use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// How long one target may take for all its inputs: an endless loop on odd bytes (as a NUL in a
/// Debian version once caused) fails the test instead of hanging CI.
const TARGET_DEADLINE: std::time::Duration = std::time::Duration::from_secs(240);

#[test]
fn no_parser_panics_on_outside_bytes() {
    for t in fuzz_targets::targets() {
        let name = t.name;
        let (done, finished) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            run_target(t);
            let _ = done.send(());
        });
        match finished.recv_timeout(TARGET_DEADLINE) {
            Ok(()) => worker.join().unwrap(),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // The target panicked: report it with its own message.
                if let Err(p) = worker.join() {
                    std::panic::resume_unwind(p);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!(
                "{name}: not finished after {TARGET_DEADLINE:?} (an endless loop on some input?)"
            ),
        }
    }
}

fn run_target(t: fuzz_targets::Target) {
    {
        let seeds = t.seeds.clone();
        let run = t.run;
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: cases(),
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let strategy = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            (
                0..seeds.len(),
                proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16),
                any::<usize>()
            )
                .prop_map(move |(s, ops, cut)| fuzz_targets::mutate(&seeds[s], &ops, cut)),
        ];
        runner
            .run(&strategy, |input| {
                run(&input);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
        // The seeds themselves go through too.
        for s in &t.seeds {
            (t.run)(s);
        }
    }
}
