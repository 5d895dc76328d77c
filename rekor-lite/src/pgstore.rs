//! The log on PostgreSQL (or a PostgreSQL-compatible database): every process of a log reads
//! and accepts writes; exactly one, the holder of a lease row, integrates.
//!
//! Nothing of the log lives on local disk: entries, stored hashes, the search index, the log's
//! identity (origin, key ID, tree ID, API version) and its latest signed checkpoint are in the
//! database, one log per database. The schema is created and versioned by rekor-lite
//! ([`migrate`], also run on first start).
//!
//! **One integrator, fenced.** Each process renews or takes the lease (`rekor_lease`, expiry on
//! the database's clock) every [`RENEW_EVERY`]; taking it bumps the epoch in both the lease and
//! the log state. Every commit locks the state row (`SELECT ... FOR UPDATE`) and goes through
//! only if the state's epoch is the committer's and the tree has the size the batch extends: a
//! stale integrator (paused, partitioned, or its lease taken over) can never commit, so no index
//! is given twice. Followers forward writes to the integrator's advertised URL.
//!
//! **Never a silent fork.** Each process remembers the largest tree it has seen; a database that
//! later holds a smaller one (restored from an older backup) makes the store refuse every
//! operation in one sentence. An identity that does not match the key or origin is refused at
//! start.
//!
//! The SQL is plain tables, row locks and `UNNEST` inserts: no advisory locks, no extensions,
//! so that CockroachDB and YugabyteDB accept it too (not tested here).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use postgres::Client;

use crate::pgtls::RustlsConnect;
use tlog_tiles::Hash;

use crate::store::{Batch, Role, Store, StoreError, StoredEntry};

/// The schema this build writes.
pub const SCHEMA_VERSION: i32 = 1;
/// How long a lease holds without renewal (database clock).
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// How often each process renews or tries to take the lease.
pub const RENEW_EVERY: Duration = Duration::from_millis(1000);
/// The longest a process waits for one database round trip.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections per process (one integrator commit at a time, the rest serve reads).
pub const POOL: usize = 8;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rekor_meta (
    id INT PRIMARY KEY CHECK (id = 1),
    schema_version INT NOT NULL,
    api_version INT NOT NULL,
    origin TEXT NOT NULL,
    key_id TEXT NOT NULL,
    tree_id BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS rekor_state (
    id INT PRIMARY KEY CHECK (id = 1),
    tree_size BIGINT NOT NULL,
    checkpoint TEXT,
    epoch BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS rekor_lease (
    id INT PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    url TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS rekor_entries (
    idx BIGINT PRIMARY KEY,
    leaf_hash BYTEA NOT NULL UNIQUE,
    body BYTEA NOT NULL,
    integrated_time BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS rekor_hashes (
    idx BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS rekor_search (
    key_hash BYTEA NOT NULL,
    idx BIGINT NOT NULL,
    PRIMARY KEY (key_hash, idx)
);
";

fn pg(e: postgres::Error) -> StoreError {
    // The server's own message (constraint, connection) without the driver's wrapping.
    match e.as_db_error() {
        Some(d) => StoreError(format!("database: {}", d.message())),
        None => {
            // The cause too (a TLS handshake fails because of the certificate, a connection
            // because it was refused): the driver's own message alone does not say.
            let mut m = format!("database: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                m.push_str(&format!(": {c}"));
                cause = c.source();
            }
            StoreError(m)
        }
    }
}

/// The identity a log's processes must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub api_version: u8,
    /// v1: the checkpoint key name (host); v2: the origin.
    pub origin: String,
    /// Hex log ID (v1: SHA-256 of the SPKI; v2: the C2SP key hash).
    pub key_id: String,
}

/// How a process reaches its log in the database.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The password, when not in the URL (read from a file: a mounted Secret).
    pub password: Option<String>,
    /// A PostgreSQL schema of the log's own (created if missing): several logs in one database.
    pub schema: Option<String>,
    /// Reads only: no migration, no lease, no writes.
    pub read_only: bool,
    /// The CA certificates (PEM) the database's TLS certificate must chain to (default: the
    /// system's). TLS is used as the URL's `sslmode` says (`require`, `prefer` by default).
    pub ca_file: Option<std::path::PathBuf>,
}

/// Creates or upgrades the schema; refuses a database written by a newer rekor-lite.
pub fn migrate(url: &str) -> Result<i32, StoreError> {
    let cfg = config(url)?;
    let tls = RustlsConnect::new(None)?;
    std::thread::spawn(move || migrate_with(&mut connect(&cfg, &tls)?))
        .join()
        .map_err(|_| StoreError("the database connection thread panicked".into()))?
}

fn migrate_with(c: &mut Client) -> Result<i32, StoreError> {
    // Concurrent first starts may race on CREATE TABLE IF NOT EXISTS (the catalog's unique
    // index): retry a few times.
    let mut last = None;
    for _ in 0..5 {
        match c.batch_execute(SCHEMA) {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) => {
                last = Some(pg(e));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    if let Some(e) = last {
        return Err(e);
    }
    let v: Option<i32> = c
        .query_opt("SELECT schema_version FROM rekor_meta WHERE id = 1", &[])
        .map_err(pg)?
        .map(|r| r.get(0));
    match v {
        Some(v) if v > SCHEMA_VERSION => Err(StoreError(format!(
            "the database holds schema version {v}, newer than this rekor-lite's {SCHEMA_VERSION}: upgrade rekor-lite"
        ))),
        Some(v) => Ok(v),
        None => Ok(SCHEMA_VERSION),
    }
}

fn config(url: &str) -> Result<postgres::Config, StoreError> {
    let mut cfg: postgres::Config = url.parse().map_err(|e| {
        StoreError(format!(
            "{url:?} is not a PostgreSQL connection string: {e}"
        ))
    })?;
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(3));
    }
    // A database host that vanishes without a reset (a partition, a moved address) must not
    // hold a query for the kernel's hours: keepalives and a TCP user timeout of seconds.
    cfg.keepalives(true);
    cfg.keepalives_idle(Duration::from_secs(5));
    cfg.tcp_user_timeout(Duration::from_secs(10));
    if cfg.get_application_name().is_none() {
        cfg.application_name("rekor-lite");
    }
    Ok(cfg)
}

fn connect(cfg: &postgres::Config, tls: &RustlsConnect) -> Result<Client, StoreError> {
    let mut c = cfg.connect(tls.clone()).map_err(pg)?;
    c.batch_execute(
        "SET statement_timeout = '10s'; SET idle_in_transaction_session_timeout = '30s'; SET client_min_messages = 'warning'",
    )
    .map_err(pg)?;
    Ok(c)
}

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// One pooled connection, reopened after it broke (a restarted or promoted database).
struct Conn {
    cfg: postgres::Config,
    tls: RustlsConnect,
    client: Option<Client>,
}

impl Conn {
    fn get(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = None;
            self.client = Some(connect(&self.cfg, &self.tls)?);
        }
        Ok(self.client.as_mut().expect("connected"))
    }
}

/// What the processes of a log share and what this one knows of it.
struct Shared {
    /// The lease epoch this process integrates under; 0 when it is not the integrator.
    epoch: AtomicI64,
    /// The integrator's advertised URL when it is another process.
    leader: RwLock<Option<String>>,
    /// The largest tree size this process has seen in the database.
    max_seen: AtomicU64,
    /// Set when the database went back in time: every operation is refused from then on.
    rolled_back: AtomicBool,
    /// Whether the last database round trip worked.
    reachable: AtomicBool,
    /// Set when this process leaves the log: it takes no lease any more.
    leaving: AtomicBool,
    /// Serves reads only: never takes the lease, never writes.
    read_only: bool,
}

/// Stored hashes kept in memory (immutable once committed): about 40 bytes each.
const HASH_CACHE_ENTRIES: usize = 1 << 20;

/// The PostgreSQL store.
pub struct PgStore {
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    shared: Arc<Shared>,
    /// Committed stored hashes never change: the tree's right edge and the proofs of recent
    /// entries are read from here instead of the database.
    hashes: Mutex<std::collections::HashMap<u64, Hash>>,
    holder: String,
    tree_id: i64,
}

impl PgStore {
    /// Connects, migrates, and checks (or, on first start, records) the log's identity. Returns
    /// the store with the log's tree ID.
    pub fn open(url: &str, id: &Identity) -> Result<PgStore, StoreError> {
        Self::open_with(url, &Options::default(), id)
    }

    /// Opens an existing log to serve reads only (a read replica, or a frontend with SELECT
    /// rights alone): no migration, no identity written, no lease taken.
    pub fn open_read_only(url: &str, id: &Identity) -> Result<PgStore, StoreError> {
        Self::open_with(
            url,
            &Options {
                read_only: true,
                ..Options::default()
            },
            id,
        )
    }

    /// [`PgStore::open`] with options: a password kept out of the URL, a schema of its own (so
    /// that several logs share a database), read-only or not.
    pub fn open_with(url: &str, opts: &Options, id: &Identity) -> Result<PgStore, StoreError> {
        let mut cfg = config(url)?;
        let tls = RustlsConnect::new(opts.ca_file.as_deref())?;
        if let Some(p) = &opts.password {
            cfg.password(p);
        }
        if let Some(schema) = &opts.schema {
            let ok = schema.len() <= 63
                && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && schema
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
            if !ok {
                return Err(StoreError(format!(
                    "{schema:?} is not a schema name this log uses ([a-z_][a-z0-9_]*, at most 63 characters)"
                )));
            }
            if !opts.read_only {
                let (cfg, tls) = (cfg.clone(), tls.clone());
                let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
                std::thread::spawn(move || connect(&cfg, &tls)?.batch_execute(&create).map_err(pg))
                    .join()
                    .map_err(|_| StoreError("the database connection thread panicked".into()))??;
            }
            let existing = cfg.get_options().unwrap_or("").to_string();
            cfg.options(&format!("{existing} -c search_path={schema}"));
        }
        let read_only = opts.read_only;
        // The synchronous client runs its own runtime: never on an async runtime's thread.
        let (c, tree_id) = {
            let (cfg, id, tls) = (cfg.clone(), id.clone(), tls.clone());
            std::thread::spawn(move || -> Result<(Client, i64), StoreError> {
                let mut c = connect(&cfg, &tls)?;
                let tree_id = if read_only {
                    read_identity(&mut c, &id)?
                } else {
                    migrate_with(&mut c)?;
                    check_identity(&mut c, &id)?
                };
                Ok((c, tree_id))
            })
            .join()
            .map_err(|_| StoreError("the database connection thread panicked".into()))??
        };
        let shared = Arc::new(Shared {
            epoch: AtomicI64::new(0),
            leader: RwLock::new(None),
            max_seen: AtomicU64::new(0),
            rolled_back: AtomicBool::new(false),
            reachable: AtomicBool::new(true),
            leaving: AtomicBool::new(false),
            read_only,
        });
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut first = Some(c);
        for i in 0..POOL {
            let rx = Arc::clone(&rx);
            let mut conn = Conn {
                cfg: cfg.clone(),
                tls: tls.clone(),
                client: first.take(),
            };
            std::thread::Builder::new()
                .name(format!("rekor-pg-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock().expect("lock").recv() {
                        Ok(j) => j,
                        Err(_) => return,
                    };
                    job(&mut conn);
                })
                .map_err(|e| StoreError(format!("cannot start a database worker: {e}")))?;
        }
        let mut holder = [0u8; 8];
        sigstore_lite_core::keys::random_bytes(&mut holder);
        Ok(PgStore {
            jobs: Mutex::new(tx),
            shared,
            hashes: Mutex::new(std::collections::HashMap::new()),
            holder: hex::encode(holder),
            tree_id,
        })
    }

    /// The log's tree ID, as recorded in the database.
    pub fn tree_id(&self) -> i64 {
        self.tree_id
    }

    /// Starts taking part in the lease: this process integrates while it holds it, and its
    /// followers forward writes to `advertise` (its reachable URL).
    pub fn start_lease(self: &Arc<Self>, advertise: String) {
        if self.shared.read_only {
            return;
        }
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("rekor-lease".into())
            .spawn(move || me.lease_loop(advertise))
            .expect("a lease thread");
    }

    fn lease_loop(&self, advertise: String) {
        // When this process last renewed, by its own clock: it stops integrating when its lease
        // may have run out, whatever the database says later.
        let mut renewed: Option<Instant> = None;
        while !self.shared.leaving.load(Ordering::SeqCst) {
            self.lease_round(&advertise, &mut renewed);
            std::thread::sleep(RENEW_EVERY);
        }
    }

    /// One round of the lease: renew it, take it if it ran out, or learn who holds it. Returns
    /// whether this process integrates afterwards.
    pub fn lease_round(&self, advertise: &str, renewed: &mut Option<Instant>) -> bool {
        if self.shared.leaving.load(Ordering::SeqCst) {
            return false;
        }
        {
            let (holder, url) = (self.holder.clone(), advertise.to_string());
            let ttl = LEASE_TTL.as_millis() as i64;
            let started = Instant::now();
            let r = self.run(move |c| {
                let mut tx = c.transaction()?;
                let row = tx.query_one(
                    "SELECT holder, url, epoch, expires_ms, (extract(epoch from clock_timestamp()) * 1000)::bigint FROM rekor_lease WHERE id = 1 FOR UPDATE",
                    &[],
                )?;
                let (h, u, epoch, expires, now): (String, String, i64, i64, i64) =
                    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
                // A lease that runs further ahead than a whole TTL was stamped by a clock that
                // has since stepped back (a failover to a node behind): it counts as run out.
                let expired = expires <= now || expires > now + ttl;
                let out = if h == holder && !expired {
                    tx.execute(
                        "UPDATE rekor_lease SET expires_ms = $1, url = $2 WHERE id = 1",
                        &[&(now + ttl), &url],
                    )?;
                    (epoch, None)
                } else if expired {
                    let next = epoch + 1;
                    tx.execute(
                        "UPDATE rekor_lease SET holder = $1, url = $2, epoch = $3, expires_ms = $4 WHERE id = 1",
                        &[&holder, &url, &next, &(now + ttl)],
                    )?;
                    tx.execute("UPDATE rekor_state SET epoch = $1 WHERE id = 1", &[&next])?;
                    (next, None)
                } else {
                    (0, Some(u))
                };
                tx.commit()?;
                Ok(out)
            });
            if self.shared.leaving.load(Ordering::SeqCst) {
                // release() ran meanwhile: whatever this round got is given up, not published.
                self.shared.epoch.store(0, Ordering::SeqCst);
                self.clear_lease();
                return false;
            }
            match r {
                Ok((epoch, leader)) => {
                    if epoch != 0 {
                        if self.shared.epoch.swap(epoch, Ordering::SeqCst) != epoch {
                            tracing::info!(epoch, "this process integrates the log");
                        }
                        *renewed = Some(started);
                    } else if self.shared.epoch.swap(0, Ordering::SeqCst) != 0 {
                        tracing::info!("another process integrates the log");
                    }
                    *self.shared.leader.write().expect("lock") = leader;
                }
                Err(e) => {
                    tracing::warn!(error = %e.0, "cannot renew the integrator lease");
                    if renewed.is_none_or(|t| t.elapsed() + RENEW_EVERY >= LEASE_TTL) {
                        self.shared.epoch.store(0, Ordering::SeqCst);
                    }
                }
            }
        }
        self.shared.epoch.load(Ordering::SeqCst) != 0
    }

    /// Runs `f` on a pooled connection and waits for it.
    fn run<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        if self.shared.rolled_back.load(Ordering::SeqCst) {
            return Err(rolled_back(self.shared.max_seen.load(Ordering::SeqCst)));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let shared = Arc::clone(&self.shared);
        let job: Job = Box::new(move |conn: &mut Conn| {
            // A pooled connection to a database that died (or was failed over) is only found
            // out on use: then reconnect (a multi-host URL finds the new primary) and try once
            // more. Safe for writes too: a transaction cut off did not commit, and if its COMMIT
            // did land, the fence refuses the retry (the tree has grown).
            let mut r = conn.get().and_then(|c| f(c).map_err(pg));
            if r.is_err() {
                let lost = conn
                    .client
                    .as_mut()
                    .is_none_or(|c| c.is_closed() || c.simple_query("SELECT 1").is_err());
                if lost {
                    conn.client = None;
                    r = conn.get().and_then(|c| f(c).map_err(pg));
                }
            }
            if r.is_err() && conn.client.as_ref().is_some_and(|c| c.is_closed()) {
                conn.client = None;
            }
            // A refused statement (a constraint, the fence) still reached the database.
            let reached = match &r {
                Ok(_) => true,
                Err(e) => e.0.starts_with("database: ") && !conn_failed(&e.0),
            };
            shared.reachable.store(reached, Ordering::SeqCst);
            let _ = tx.send(r);
        });
        self.jobs
            .lock()
            .expect("lock")
            .send(job)
            .map_err(|_| StoreError("the database workers stopped".into()))?;
        // Bounded: a wedged connection gives an error (and a 5xx), never a hung request.
        rx.recv_timeout(RUN_TIMEOUT)
            .map_err(|_| StoreError("the database did not answer in time".into()))?
    }

    /// Records a tree size read from the database; refuses one smaller than seen before.
    /// Records a tree size read from the database by a query sent when this process had seen
    /// at most `before`: smaller than that, the database went back in time. (Compared with what
    /// was known *before* the query, so that a concurrent commit seen by another thread while
    /// this query was on its way is no false alarm.)
    fn saw(&self, size: u64, before: u64) -> Result<u64, StoreError> {
        if size < before {
            self.shared.rolled_back.store(true, Ordering::SeqCst);
            tracing::error!(size, seen = before, "the database went back in time");
            return Err(rolled_back(before));
        }
        self.shared.max_seen.fetch_max(size, Ordering::SeqCst);
        Ok(size)
    }

    fn seen(&self) -> u64 {
        self.shared.max_seen.load(Ordering::SeqCst)
    }
}

fn conn_failed(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("connection")
        || m.contains("timed out")
        || m.contains("closed")
        || m.contains("refused")
}

fn rolled_back(seen: u64) -> StoreError {
    StoreError(format!(
        "the database holds a smaller tree than the {seen} entries this process has seen: it was restored to an older state, and serving it would fork the log; restore the newest backup"
    ))
}

/// The identity of an existing log, checked; never written (SELECT rights suffice).
fn read_identity(c: &mut Client, id: &Identity) -> Result<i64, StoreError> {
    let row = c
        .query_opt(
            "SELECT schema_version, api_version, origin, key_id, tree_id FROM rekor_meta WHERE id = 1",
            &[],
        )
        .map_err(pg)?
        .ok_or_else(|| StoreError("the database holds no log yet: start a writing rekor-lite on it first".into()))?;
    let (schema, v, origin, key_id, tree_id): (i32, i32, String, String, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    if schema > SCHEMA_VERSION {
        return Err(StoreError(format!(
            "the database holds schema version {schema}, newer than this rekor-lite's {SCHEMA_VERSION}: upgrade rekor-lite"
        )));
    }
    if v != i32::from(id.api_version) || origin != id.origin || key_id != id.key_id {
        return Err(StoreError(format!(
            "the database holds the Rekor v{v} log {origin:?} with key {key_id}, not the v{} log {:?} with key {}: another key, origin or API version (one log per database)",
            id.api_version, id.origin, id.key_id
        )));
    }
    Ok(tree_id)
}

fn check_identity(c: &mut Client, id: &Identity) -> Result<i64, StoreError> {
    let mut tx = c.transaction().map_err(pg)?;
    let row = tx
        .query_opt(
            "SELECT api_version, origin, key_id, tree_id FROM rekor_meta WHERE id = 1 FOR UPDATE",
            &[],
        )
        .map_err(pg)?;
    let tree_id = match row {
        Some(r) => {
            let (v, origin, key_id, tree_id): (i32, String, String, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            if v != i32::from(id.api_version) || origin != id.origin || key_id != id.key_id {
                return Err(StoreError(format!(
                    "the database holds the Rekor v{v} log {origin:?} with key {key_id}, not the v{} log {:?} with key {}: another key, origin or API version (one log per database)",
                    id.api_version, id.origin, id.key_id
                )));
            }
            tree_id
        }
        None => {
            let mut b = [0u8; 8];
            sigstore_lite_core::keys::random_bytes(&mut b);
            let tree_id = (i64::from_be_bytes(b) & i64::MAX).max(1);
            let inserted = tx.execute(
                "INSERT INTO rekor_meta (id, schema_version, api_version, origin, key_id, tree_id) VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                &[&SCHEMA_VERSION, &i32::from(id.api_version), &id.origin, &id.key_id, &tree_id],
            )
            .map_err(pg)?;
            if inserted == 0 {
                // Another process made the log first: check against what it recorded.
                tx.rollback().map_err(pg)?;
                return read_identity(c, id);
            }
            tx.execute(
                "INSERT INTO rekor_state (id, tree_size, checkpoint, epoch) VALUES (1, 0, NULL, 0) ON CONFLICT (id) DO NOTHING",
                &[],
            )
            .map_err(pg)?;
            tx.execute(
                "INSERT INTO rekor_lease (id, holder, url, epoch, expires_ms) VALUES (1, '', '', 0, 0) ON CONFLICT (id) DO NOTHING",
                &[],
            )
            .map_err(pg)?;
            tree_id
        }
    };
    tx.commit().map_err(pg)?;
    Ok(tree_id)
}

fn key_hash(key: &str) -> Vec<u8> {
    sigstore_lite_core::keys::sha256(key.as_bytes()).to_vec()
}

impl Store for PgStore {
    fn tree_size(&self) -> Result<u64, StoreError> {
        let before = self.seen();
        let n = self.run(|c| {
            Ok(
                c.query_one("SELECT tree_size FROM rekor_state WHERE id = 1", &[])?
                    .get::<_, i64>(0),
            )
        })?;
        self.saw(n as u64, before)
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Option<Vec<Hash>>, StoreError> {
        if self.shared.rolled_back.load(Ordering::SeqCst) {
            return Err(rolled_back(self.seen()));
        }
        let mut found: std::collections::HashMap<u64, Hash> = {
            let cache = self.hashes.lock().expect("lock");
            indexes
                .iter()
                .filter_map(|i| cache.get(i).map(|h| (*i, *h)))
                .collect()
        };
        let want: Vec<i64> = indexes
            .iter()
            .filter(|i| !found.contains_key(i))
            .map(|&i| i as i64)
            .collect();
        if !want.is_empty() {
            let rows = self.run(move |c| {
                c.query(
                    "SELECT idx, hash FROM rekor_hashes WHERE idx = ANY($1)",
                    &[&want],
                )
            })?;
            let mut cache = self.hashes.lock().expect("lock");
            if cache.len() > HASH_CACHE_ENTRIES {
                cache.clear();
            }
            for r in rows {
                let h: Vec<u8> = r.get(1);
                let h: [u8; 32] = h
                    .try_into()
                    .map_err(|_| StoreError("a stored hash is not 32 bytes".into()))?;
                let i = r.get::<_, i64>(0) as u64;
                found.insert(i, Hash(h));
                cache.insert(i, Hash(h));
            }
        }
        Ok(indexes.iter().map(|i| found.get(i).copied()).collect())
    }

    fn index_of_many(&self, leaves: &[[u8; 32]]) -> Result<Vec<Option<u64>>, StoreError> {
        let want: Vec<Vec<u8>> = leaves.iter().map(|l| l.to_vec()).collect();
        let rows = self.run(move |c| {
            c.query(
                "SELECT leaf_hash, idx FROM rekor_entries WHERE leaf_hash = ANY($1)",
                &[&want],
            )
        })?;
        let found: std::collections::HashMap<Vec<u8>, u64> = rows
            .iter()
            .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, i64>(1) as u64))
            .collect();
        Ok(leaves.iter().map(|l| found.get(&l[..]).copied()).collect())
    }

    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
        let i = index as i64;
        let row = self.run(move |c| {
            c.query_opt(
                "SELECT body, integrated_time FROM rekor_entries WHERE idx = $1",
                &[&i],
            )
        })?;
        Ok(row.map(|r| StoredEntry {
            body: r.get(0),
            integrated_time: r.get(1),
        }))
    }

    fn index_of(&self, leaf_hash: &[u8; 32]) -> Result<Option<u64>, StoreError> {
        let leaf = leaf_hash.to_vec();
        let row = self.run(move |c| {
            c.query_opt(
                "SELECT idx FROM rekor_entries WHERE leaf_hash = $1",
                &[&leaf],
            )
        })?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    fn search(&self, key: &str) -> Result<Vec<u64>, StoreError> {
        let k = key_hash(key);
        let rows = self.run(move |c| {
            c.query(
                "SELECT idx FROM rekor_search WHERE key_hash = $1 ORDER BY idx",
                &[&k],
            )
        })?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
    }

    fn checkpoint(&self) -> Result<Option<String>, StoreError> {
        let before = self.seen();
        let (size, cp) = self.run(|c| {
            let r = c.query_one(
                "SELECT tree_size, checkpoint FROM rekor_state WHERE id = 1",
                &[],
            )?;
            Ok((r.get::<_, i64>(0), r.get::<_, Option<String>>(1)))
        })?;
        self.saw(size as u64, before)?;
        Ok(cp)
    }

    fn append(&self, b: &Batch) -> Result<(), StoreError> {
        if self.shared.read_only {
            return Err(StoreError("this process serves reads only".into()));
        }
        let epoch = self.shared.epoch.load(Ordering::SeqCst);
        let start = (b.new_size - b.entries.len() as u64) as i64;
        let new_size = b.new_size as i64;
        let checkpoint = b.checkpoint.clone();
        if b.entries.is_empty() && b.hashes.is_empty() {
            // The empty tree's checkpoint, written once by whichever process starts first.
            return self.run(move |c| {
                c.execute(
                    "UPDATE rekor_state SET checkpoint = $1 WHERE id = 1 AND tree_size = $2 AND checkpoint IS NULL",
                    &[&checkpoint, &new_size],
                )
                .map(|_| ())
            });
        }
        if epoch == 0 {
            return Err(StoreError(
                "this process does not hold the integrator lease".into(),
            ));
        }
        let idx: Vec<i64> = b.entries.iter().map(|e| e.index as i64).collect();
        let leaves: Vec<Vec<u8>> = b.entries.iter().map(|e| e.leaf_hash.to_vec()).collect();
        let bodies: Vec<Vec<u8>> = b.entries.iter().map(|e| e.entry.body.clone()).collect();
        let times: Vec<i64> = b.entries.iter().map(|e| e.entry.integrated_time).collect();
        let hidx: Vec<i64> = b.hashes.iter().map(|(i, _)| *i as i64).collect();
        let hashes: Vec<Vec<u8>> = b.hashes.iter().map(|(_, h)| h.0.to_vec()).collect();
        let (mut kh, mut ki) = (Vec::new(), Vec::new());
        for e in &b.entries {
            let mut keys: Vec<&String> = e.index_keys.iter().collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                kh.push(key_hash(k));
                ki.push(e.index as i64);
            }
        }
        let fenced = self.run(move |c| {
            let mut tx = c.transaction()?;
            let row = tx.query_one(
                "SELECT tree_size, epoch, checkpoint FROM rekor_state WHERE id = 1 FOR UPDATE",
                &[],
            )?;
            let (size, current, stored): (i64, i64, Option<String>) =
                (row.get(0), row.get(1), row.get(2));
            if current == epoch && size == new_size && stored.as_deref() == Some(&checkpoint) {
                // This very batch is already in: a retry after a COMMIT whose answer was lost.
                return Ok(None);
            }
            if current != epoch || size != start {
                return Ok(Some((size, current)));
            }
            tx.execute(
                "INSERT INTO rekor_entries (idx, leaf_hash, body, integrated_time) SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[], $4::BIGINT[])",
                &[&idx, &leaves, &bodies, &times],
            )?;
            tx.execute(
                "INSERT INTO rekor_hashes (idx, hash) SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[])",
                &[&hidx, &hashes],
            )?;
            tx.execute(
                "INSERT INTO rekor_search (key_hash, idx) SELECT * FROM UNNEST($1::BYTEA[], $2::BIGINT[]) ON CONFLICT DO NOTHING",
                &[&kh, &ki],
            )?;
            tx.execute(
                "UPDATE rekor_state SET tree_size = $1, checkpoint = $2 WHERE id = 1",
                &[&new_size, &checkpoint],
            )?;
            tx.commit()?;
            Ok(None)
        })?;
        match fenced {
            None => {
                self.shared.max_seen.fetch_max(b.new_size, Ordering::SeqCst);
                let mut cache = self.hashes.lock().expect("lock");
                if cache.len() > HASH_CACHE_ENTRIES {
                    cache.clear();
                }
                cache.extend(b.hashes.iter().copied());
                Ok(())
            }
            Some((size, current)) => {
                if current != epoch {
                    // Not this process's lease any more (unless it took a newer one meanwhile).
                    let _ = self.shared.epoch.compare_exchange(
                        epoch,
                        0,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                }
                Err(StoreError(format!(
                    "fenced: the batch extends a tree of {start} under epoch {epoch}, the database holds {size} under epoch {current}; not committed"
                )))
            }
        }
    }

    fn role(&self) -> Role {
        if self.shared.read_only {
            return Role::ReadOnly;
        }
        if self.shared.epoch.load(Ordering::SeqCst) != 0 {
            return Role::Integrator;
        }
        match self.shared.leader.read().expect("lock").clone() {
            Some(url) if !url.is_empty() => Role::Follower { leader_url: url },
            _ => Role::NoIntegrator,
        }
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn healthy(&self) -> bool {
        !self.shared.rolled_back.load(Ordering::SeqCst) && self.ping()
    }

    fn release(&self) {
        self.shared.leaving.store(true, Ordering::SeqCst);
        self.shared.epoch.store(0, Ordering::SeqCst);
        if !self.shared.read_only {
            self.clear_lease();
            tracing::info!("gave up the integrator lease");
        }
    }
}

impl PgStore {
    /// A cheap round trip (for /healthz): whether the database answers now.
    pub fn ping(&self) -> bool {
        self.run(|c| c.simple_query("SELECT 1").map(|_| ())).is_ok()
    }

    /// Ends this process's lease in the database, if it holds it (whatever it believes).
    fn clear_lease(&self) {
        let holder = self.holder.clone();
        let _ = self.run(move |c| {
            c.execute(
                "UPDATE rekor_lease SET expires_ms = 0 WHERE id = 1 AND holder = $1",
                &[&holder],
            )
            .map(|_| ())
        });
    }

    /// This process's holder ID in the lease row.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}
