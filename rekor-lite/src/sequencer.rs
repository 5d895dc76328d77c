//! The sequencer: one thread that takes verified entries off a queue, assigns indexes, extends
//! the tree, signs one checkpoint and commits one durable write transaction per batch, and only
//! then answers the waiters (group commit).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use sigstore_lite_core::rekor::CanonicalEntry;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::state::{sign_checkpoint, unix_seconds, Core, SignedCheckpoint};
use crate::store::{Batch, NewEntry, StoredEntry};
use crate::tree::TreeBuilder;

/// Most entries one group commit takes.
pub const MAX_BATCH: usize = 1024;

/// An entry waiting to be sequenced.
pub(crate) struct Pending {
    pub(crate) entry: CanonicalEntry,
    pub(crate) leaf: [u8; 32],
    pub(crate) queued: Instant,
    pub(crate) reply: oneshot::Sender<Result<Committed, Error>>,
}

/// What the sequencer tells a waiter.
#[derive(Debug, Clone)]
pub(crate) enum Committed {
    New {
        index: u64,
        integrated_time: i64,
        checkpoint: Arc<SignedCheckpoint>,
    },
    Duplicate {
        index: u64,
    },
}

/// Runs until the queue is closed.
pub(crate) fn run(core: Arc<Core>, mut rx: mpsc::Receiver<Pending>, mut size: u64) {
    let mut pending = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        pending.push(first);
        while pending.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => pending.push(p),
                Err(_) => break,
            }
        }
        size = commit_batch(&core, std::mem::take(&mut pending), size);
    }
}

enum Outcome {
    New(u64),
    Duplicate(u64),
}

/// Sequences, hashes, signs and durably commits one batch, then answers every waiter. Returns the
/// new tree size (unchanged if the commit failed).
fn commit_batch(core: &Core, batch: Vec<Pending>, size: u64) -> u64 {
    let store = &*core.store;
    // A shared store: integrate only while holding the lease, from the size the database holds
    // (another process may have integrated since this one last did).
    let size = if store.is_shared() {
        let now_size = match store.role() {
            crate::store::Role::Integrator => store.tree_size().map_err(|e| e.0),
            crate::store::Role::Follower { leader_url } => {
                Err(format!("the integrator is now {leader_url}"))
            }
            crate::store::Role::NoIntegrator => Err("no process holds the lease".into()),
            crate::store::Role::ReadOnly => Err("this process is read-only".into()),
        };
        match now_size {
            Ok(n) => n,
            Err(why) => {
                for p in batch {
                    let _ = p.reply.send(Err(Error::NoIntegrator(why.clone())));
                }
                return size;
            }
        }
    } else {
        size
    };
    let now = unix_seconds((core.clock)());
    let mut tb = TreeBuilder::new(store, size);
    let mut in_batch: HashMap<[u8; 32], u64> = HashMap::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut entries = Vec::new();
    let result: Result<(), Error> = (|| {
        // Which entries the log already holds, asked once for the whole batch.
        let leaves: Vec<[u8; 32]> = batch.iter().map(|p| p.leaf).collect();
        let logged = store.index_of_many(&leaves)?;
        for (p, logged) in batch.iter().zip(logged) {
            if let Some(&i) = in_batch.get(&p.leaf) {
                outcomes.push(Outcome::Duplicate(i));
                continue;
            }
            if let Some(i) = logged {
                outcomes.push(Outcome::Duplicate(i));
                continue;
            }
            let n = tb.push(p.leaf)?;
            in_batch.insert(p.leaf, n);
            entries.push(NewEntry {
                index: n,
                leaf_hash: p.leaf,
                entry: StoredEntry {
                    body: p.entry.body.clone(),
                    integrated_time: now,
                },
                index_keys: p.entry.index_keys.clone(),
            });
            outcomes.push(Outcome::New(n));
        }
        Ok(())
    })();
    let n = tb.size;
    let result = result.and_then(|()| {
        if n == size {
            return Ok(None);
        }
        let cp = sign_checkpoint(core, n, tb.root()?)?;
        let started = Instant::now();
        store.append(&Batch {
            entries,
            hashes: std::mem::take(&mut tb.hashes),
            new_size: n,
            checkpoint: cp.note.clone(),
        })?;
        core.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(Some(Arc::new(cp)))
    });
    match result {
        Err(e) => {
            tracing::error!(error = %e, "batch not committed");
            if let Error::KeyUnavailable(why) = &e {
                // Nothing was written: the store is sound, the key will be tried again.
                for p in batch {
                    let _ = p.reply.send(Err(Error::KeyUnavailable(why.clone())));
                }
                return size;
            }
            if store.is_shared() {
                // Nothing was committed (the transaction rolled back, or the fence refused it):
                // the database decides what holds; the next batch starts from what it holds.
                for p in batch {
                    let _ = p.reply.send(Err(Error::NoIntegrator(
                        "the batch was not committed".into(),
                    )));
                }
                return size;
            }
            core.failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
            for p in batch {
                let _ = p.reply.send(Err(Error::Internal(
                    "the log could not commit the entry".into(),
                )));
            }
            size
        }
        Ok(cp) => {
            let cp = match cp {
                Some(cp) => {
                    *core.latest.write().expect("lock") = Arc::clone(&cp);
                    if let Some(w) = &core.watermark {
                        if let Err(e) = crate::state::write_watermark(w, n) {
                            tracing::error!(error = %e, "tree size not recorded");
                            core.failed
                                .store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    cp
                }
                None => core.latest(),
            };
            let new_count = n - size;
            core.metrics.entries.fetch_add(new_count, Relaxed);
            core.metrics
                .duplicates
                .fetch_add(batch.len() as u64 - new_count, Relaxed);
            core.metrics.batch_size.observe(batch.len() as f64);
            for (p, o) in batch.into_iter().zip(outcomes) {
                core.metrics
                    .append_seconds
                    .observe(p.queued.elapsed().as_secs_f64());
                let r = match o {
                    Outcome::New(index) => Committed::New {
                        index,
                        integrated_time: now,
                        checkpoint: Arc::clone(&cp),
                    },
                    Outcome::Duplicate(index) => Committed::Duplicate { index },
                };
                let _ = p.reply.send(Ok(r));
            }
            n
        }
    }
}
