//! The fuzz targets of tests/fuzz.rs, run for longer (`FUZZ_ITERATIONS`, default 20,000 per
//! target) with a fast deterministic mutator; prints inputs/s per target. A panic fails the run
//! with the target's name and the input (hex).

#[path = "../tests/fuzz_targets/mod.rs"]
mod fuzz_targets;

fn main() {
    let n: u64 = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for t in fuzz_targets::targets() {
        let started = std::time::Instant::now();
        for _ in 0..n {
            let seed = &t.seeds[(next() as usize) % t.seeds.len()];
            let ops: Vec<(usize, u8)> = (0..next() % 16)
                .map(|_| (next() as usize, next() as u8))
                .collect();
            let input = if next().is_multiple_of(8) {
                (0..next() % 512).map(|_| next() as u8).collect()
            } else {
                fuzz_targets::mutate(seed, &ops, next() as usize)
            };
            let r = std::panic::catch_unwind(|| (t.run)(&input));
            if r.is_err() {
                panic!("{} panicked on {}", t.name, hex::encode(&input));
            }
        }
        let s = started.elapsed().as_secs_f64();
        println!(
            "{:<36} {n} inputs, no panic, {:.0} inputs/s",
            t.name,
            n as f64 / s
        );
    }
}
