//! The log's Prometheus metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use sigstore_lite_server::metrics::{counter, gauge, Histogram, LATENCY_BUCKETS};

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
            append_seconds: Histogram::new(LATENCY_BUCKETS),
            commit_seconds: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

impl Metrics {
    /// Prometheus text exposition; `tree_size` is sampled by the caller.
    pub fn render(&self, tree_size: u64) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "rekor_lite_entries_total",
            "Entries appended since start.",
            load(&self.entries),
        );
        counter(
            &mut out,
            "rekor_lite_duplicates_total",
            "Proposed entries refused as duplicates.",
            load(&self.duplicates),
        );
        counter(
            &mut out,
            "rekor_lite_rejected_total",
            "Proposed entries refused as invalid.",
            load(&self.rejected),
        );
        gauge(
            &mut out,
            "rekor_lite_tree_size",
            "Committed tree size.",
            tree_size,
        );
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
