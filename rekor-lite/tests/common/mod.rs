//! What rekor-lite's HTTP tests share: a log served on 127.0.0.1 until stopped, in process or as
//! the real binary.
#![allow(dead_code)]

pub mod pg;

use std::path::Path;

/// `rekor_lite::open`, waiting while a stopped server still holds the store: its last
/// connections close asynchronously after shutdown and keep the database lock for a moment.
pub fn open_released(config: &rekor_lite::Config) -> Result<rekor_lite::Log, rekor_lite::Error> {
    for _ in 0..200 {
        match rekor_lite::open(config) {
            Err(e) if e.to_string().contains("already open") => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            other => return other,
        }
    }
    panic!("a stopped server never released the store")
}

pub struct Server {
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// The embedded store's configuration, to wait in `stop` until the store is closed.
    redb: Option<rekor_lite::Config>,
}

/// Where a test's log lives: the embedded redb store in its directory, or a database of a real
/// PostgreSQL cluster started for the test (one database per log directory, so that a restart
/// on the same directory finds the same log).
pub enum Backend {
    Redb,
    Postgres(pg::Cluster),
}

impl Backend {
    pub fn redb() -> Backend {
        Backend::Redb
    }

    pub fn postgres() -> Backend {
        Backend::Postgres(pg::Cluster::start())
    }

    /// The log configuration for `dir` on this backend; `url` is the server's own address.
    fn configure(&self, mut c: rekor_lite::Config, url: &str) -> rekor_lite::Config {
        if let Backend::Postgres(cluster) = self {
            let name = format!(
                "log_{}",
                &hex::encode(sigstore_lite_core::keys::sha256(
                    c.data_dir.to_string_lossy().as_bytes()
                ))[..16]
            );
            if !cluster.database_exists(&name) {
                cluster.create_db(&name);
            }
            std::fs::create_dir_all(&c.data_dir).unwrap();
            let key = c.data_dir.join("pg-log-key.pem");
            rekor_lite::ensure_key(&key, c.api_version).unwrap();
            c.key = Some(rekor_lite::KeyRef::File(key));
            c.store = Some(cluster.url(&name));
            c.advertise = Some(url.to_string());
        }
        c
    }
}

/// Runs an async test body once per backend (the same test on both stores).
#[macro_export]
macro_rules! on_both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redb() {
                super::$name(&super::common::Backend::redb()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let b = tokio::task::spawn_blocking(super::common::Backend::postgres)
                    .await
                    .unwrap();
                super::$name(&b).await
            }
        }
    };
}

impl Server {
    /// Opens the log `config(dir)` describes and serves it on a free loopback port.
    pub async fn start_with(dir: &Path, config: fn(&Path) -> rekor_lite::Config) -> Server {
        Self::start_on(dir, config, &Backend::Redb).await
    }

    /// [`Server::start_with`] on a backend; on PostgreSQL it returns once this server integrates.
    pub async fn start_on(
        dir: &Path,
        config: fn(&Path) -> rekor_lite::Config,
        backend: &Backend,
    ) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cfg = backend.configure(config(dir), &url);
        let redb = cfg.store.is_none().then(|| cfg.clone());
        let log = open_released(&cfg).unwrap_or_else(|e| panic!("cannot open the log: {e}"));
        if let Backend::Postgres(_) = backend {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            while log.role() != rekor_lite::store::Role::Integrator {
                assert!(std::time::Instant::now() < deadline, "never took the lease");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rekor_lite::serve(listener, log, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Server {
            url,
            shutdown: Some(tx),
            task,
            redb,
        }
    }

    /// Stops serving and returns once the store is closed: connection tasks may still hold the
    /// log for a moment after the server returned, and a test that then replaces the store file
    /// would otherwise race the closing store's last header write.
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.await.unwrap();
        if let Some(cfg) = self.redb.take() {
            tokio::task::spawn_blocking(move || drop(open_released(&cfg)))
                .await
                .unwrap();
        }
    }
}

/// The real binary, killed when dropped.
pub struct Child {
    pub child: std::process::Child,
    pub url: String,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rekor-lite serve` on a free loopback port with `extra` arguments.
pub fn spawn_binary(dir: &Path, extra: &[&str]) -> Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rekor-lite"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start rekor-lite");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("rekor-lite listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Child { child, url }
}
