//! What every benchmark needs: timing a primitive, percentiles, a server on its own runtime, and
//! wrk (a light, external C load generator) replaying distinct request bodies.

use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Mean time of one call of `f` over `n` calls (after `n / 10` warm-up calls).
pub fn per_op(n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The `p` quantile of sorted durations, in milliseconds.
pub fn pct_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

pub fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// Prints the machine the figures come from.
pub fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!("machine: {} cores, {cpu}", cores());
}

/// Runs `serve` (given its runtime) on a dedicated multi-threaded tokio runtime with `workers`
/// threads, on a background thread, for the rest of the process. Returns what `serve` returns.
pub fn background<T: Send + 'static, F: Future<Output = T> + Send + 'static>(
    workers: usize,
    serve: impl FnOnce() -> F + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let v = serve().await;
            tx.send(v).ok();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("the server started")
}

/// What wrk measured.
#[derive(Debug, Clone)]
pub struct Wrk {
    pub requests: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Responses that were not 2xx or 3xx (wrk counts them without a Lua callback, which would
    /// cost it more CPU than the server spends on some requests), and socket errors.
    pub unexpected: u64,
}

fn parse_ms(s: &str) -> f64 {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("us") {
        v.parse::<f64>().unwrap_or(0.0) / 1e3
    } else if let Some(v) = s.strip_suffix("ms") {
        v.parse().unwrap_or(0.0)
    } else if let Some(v) = s.strip_suffix('s') {
        v.parse::<f64>().unwrap_or(0.0) * 1e3
    } else {
        0.0
    }
}

/// Runs wrk against `url` with `threads` threads and `conns` connections for `secs` seconds.
/// Each wrk thread `i` POSTs, in order, the bodies of `<bodies_prefix>.<i>` (one per line), with
/// `content_type`. Fails loudly if wrk is missing
/// (Debian: `apt-get install wrk`; `scripts/bench` installs it).
pub fn wrk_post(
    url: &str,
    bodies_prefix: &Path,
    content_type: &str,
    threads: usize,
    conns: usize,
    secs: u64,
) -> Wrk {
    wrk_post_bodies(
        url,
        bodies_prefix,
        content_type,
        false,
        threads,
        conns,
        secs,
    )
}

/// [`wrk_post`] for binary bodies, written hex-encoded by [`write_bodies_hex`] and decoded once
/// when wrk loads them.
pub fn wrk_post_hex(
    url: &str,
    bodies_prefix: &Path,
    content_type: &str,
    threads: usize,
    conns: usize,
    secs: u64,
) -> Wrk {
    wrk_post_bodies(url, bodies_prefix, content_type, true, threads, conns, secs)
}

fn wrk_post_bodies(
    url: &str,
    bodies_prefix: &Path,
    content_type: &str,
    hex: bool,
    threads: usize,
    conns: usize,
    secs: u64,
) -> Wrk {
    let script = bodies_prefix.with_extension("lua");
    let decode = if hex {
        r#"line = line:gsub("..", function(cc) return string.char(tonumber(cc, 16)) end)"#
    } else {
        ""
    };
    std::fs::write(
        &script,
        format!(
            r#"local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  bodies = {{}}
  for line in io.lines("{prefix}." .. id) do
    {decode}
    bodies[#bodies + 1] = line
  end
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "{content_type}"
end
function request()
  n = n + 1
  if n > #bodies then n = 1 end
  return wrk.format(nil, nil, nil, bodies[n])
end
function done(summary, latency, requests)
  io.write(string.format("P50 %f\nP99 %f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"#,
            prefix = bodies_prefix.display(),
        ),
    )
    .expect("write the wrk script");
    run_wrk(url, Some(&script), threads, conns, secs)
}

/// Runs wrk GETting `url`.
pub fn wrk_get(url: &str, threads: usize, conns: usize, secs: u64) -> Wrk {
    run_wrk(url, None, threads, conns, secs)
}

fn run_wrk(url: &str, script: Option<&Path>, threads: usize, conns: usize, secs: u64) -> Wrk {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        &threads.to_string(),
        "-c",
        &conns.to_string(),
        "-d",
        &format!("{secs}s"),
        "--timeout",
        "10s",
        "--latency",
    ]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd.arg(url).output().unwrap_or_else(|e| {
        panic!("wrk is needed for this benchmark (apt-get install wrk, or bash scripts/bench): {e}")
    });
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.trim_start()[prefix.len()..].trim())
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Wrk {
        requests,
        per_second: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_ms: field("P50").map_or_else(
            || field("50%").map_or(0.0, parse_ms),
            |v| v.parse().unwrap_or(0.0),
        ),
        p99_ms: field("P99").map_or_else(
            || field("99%").map_or(0.0, parse_ms),
            |v| v.parse().unwrap_or(0.0),
        ),
        unexpected: field("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
            + field("Socket errors:").map_or(0, |v| {
                v.split(',')
                    .filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum()
            }),
    }
}

/// Writes binary `bodies` hex-encoded, for [`wrk_post_hex`].
pub fn write_bodies_hex(prefix: &Path, bodies: &[Vec<u8>], threads: usize) {
    let hexed: Vec<Vec<u8>> = bodies.iter().map(|b| hex::encode(b).into_bytes()).collect();
    write_bodies(prefix, &hexed, threads);
}

/// Writes `bodies` round-robin into `threads` files `<prefix>.<i>`, one body per line (bodies
/// must not contain newlines).
pub fn write_bodies(prefix: &Path, bodies: &[Vec<u8>], threads: usize) {
    use std::io::Write;
    let mut files: Vec<_> = (0..threads)
        .map(|i| {
            std::io::BufWriter::new(
                std::fs::File::create(format!("{}.{i}", prefix.display())).expect("bodies file"),
            )
        })
        .collect();
    for (i, b) in bodies.iter().enumerate() {
        assert!(!b.contains(&b'\n'));
        let f = &mut files[i % threads];
        f.write_all(b).unwrap();
        f.write_all(b"\n").unwrap();
    }
    for mut f in files {
        f.flush().unwrap();
    }
}

/// `openssl speed` for ECDSA P-256 in this run, as an independent ceiling: (sign/s, verify/s)
/// on one core, if openssl is installed.
pub fn openssl_p256() -> Option<(f64, f64)> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "2", "ecdsap256"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("ecdsa (nistp256)"))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    // "256 bits ecdsa (nistp256) 0.0000s 0.0001s 29528.4 10495.7": the last two.
    let n = v.len();
    (n >= 2).then(|| (v[n - 2], v[n - 1]))
}
