//! Prometheus text metrics, kept with atomics (no registry crate).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fixed-bucket histogram.
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation (in the histogram's unit; sums are kept in millionths).
    pub fn observe(&self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if v <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros
            .fetch_add((v * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {n}");
    }
}

/// The log's metrics.
pub struct Metrics {
    pub entries: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub batch_size: Histogram,
    pub append_seconds: Histogram,
    pub commit_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            entries: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            batch_size: Histogram::new(&[
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ]),
            append_seconds: Histogram::new(&[
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
            ]),
            commit_seconds: Histogram::new(&[
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
            ]),
        }
    }
}

impl Metrics {
    /// Prometheus text exposition; `tree_size` is sampled by the caller.
    pub fn render(&self, tree_size: u64) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            "rekor_lite_entries_total",
            "Entries appended since start.",
            self.entries.load(Ordering::Relaxed),
        );
        counter(
            "rekor_lite_duplicates_total",
            "Proposed entries refused as duplicates.",
            self.duplicates.load(Ordering::Relaxed),
        );
        counter(
            "rekor_lite_rejected_total",
            "Proposed entries refused as invalid.",
            self.rejected.load(Ordering::Relaxed),
        );
        let _ = writeln!(out, "# HELP rekor_lite_tree_size Committed tree size.\n# TYPE rekor_lite_tree_size gauge\nrekor_lite_tree_size {tree_size}");
        self.batch_size.render(
            "rekor_lite_batch_size",
            "Entries per group commit.",
            &mut out,
        );
        self.append_seconds.render(
            "rekor_lite_append_seconds",
            "Time from submission to durable commit.",
            &mut out,
        );
        self.commit_seconds.render(
            "rekor_lite_commit_seconds",
            "Duration of one durable write transaction.",
            &mut out,
        );
        out
    }
}
