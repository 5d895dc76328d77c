//! A real PostgreSQL server for the tests: Debian's `postgresql` package (installed by
//! scripts/test), a fresh cluster made with initdb in a temporary directory and started with
//! pg_ctl on a free loopback port, as the `postgres` user when the tests run as root (PostgreSQL
//! refuses to run as root). Stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The newest installed server's bin directory; fails loudly if PostgreSQL is not installed.
fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): run `bash scripts/test`, which installs Debian's postgresql")
    })
}

/// Whether the tests run as root (tools then run as `postgres`).
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as `postgres` when we are root.
fn tool(bin: &Path, name: &str, args: &[&str]) -> std::process::Output {
    let exe = bin.join(name);
    let mut c = if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    c.args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
}

/// A fresh cluster directory made by initdb (trust authentication on loopback).
fn initdb() -> (PathBuf, tempfile::TempDir, PathBuf) {
    let bin = bin_dir();
    let dir = private_dir();
    let data = dir.path().join("data");
    let o = tool(
        &bin,
        "initdb",
        &[
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
    );
    assert!(
        o.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (bin, dir, data)
}

/// A temporary directory the server's user owns.
fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if running_as_root() {
        // The temporary directory is 0700 root's: the server's user must own it.
        let ok = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "chown to postgres failed");
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    pub port: u16,
    stopped: bool,
}

impl Cluster {
    /// initdb + pg_ctl start on a free port of 127.0.0.1.
    pub fn start() -> Cluster {
        let (bin, dir, data) = initdb();
        Self::launch(bin, dir, data, "")
    }

    /// [`Cluster::start`] with TLS on (a server certificate for 127.0.0.1 and localhost, made by
    /// a CA of the test's own); returns the CA's PEM file too.
    pub fn start_with_tls() -> (Cluster, PathBuf) {
        let (bin, dir, data) = initdb();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let (crt, kf) = (data.join("server.crt"), data.join("server.key"));
        std::fs::write(&crt, cert.pem()).unwrap();
        std::fs::write(&kf, key.serialize_pem()).unwrap();
        std::fs::set_permissions(&kf, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        if running_as_root() {
            let _ = Command::new("chown")
                .arg("postgres")
                .arg(&crt)
                .arg(&kf)
                .status();
        }
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let c = Self::launch(
            bin,
            dir,
            data,
            "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key",
        );
        (c, ca_file)
    }

    /// The first column of the first row of `sql` in database `db`, as text.
    pub fn query_text(&self, db: &str, sql: &str) -> String {
        let (url, sql) = (self.url(db), sql.to_string());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let rows = c.simple_query(&sql).unwrap();
            rows.iter()
                .find_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .unwrap_or_default()
        })
        .join()
        .unwrap()
    }

    /// A streaming standby of this cluster (pg_basebackup -R), started on its own port. Make it
    /// synchronous with [`Cluster::make_standbys_synchronous`].
    pub fn start_standby(&self) -> Cluster {
        let dir = private_dir();
        let data = dir.path().join("data");
        let port = self.port.to_string();
        let o = tool(
            &self.bin,
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        );
        assert!(
            o.status.success(),
            "pg_basebackup: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Self::launch(self.bin.clone(), dir, data, "")
    }

    /// Every commit waits for a standby (`synchronous_standby_names = '*'`).
    pub fn make_standbys_synchronous(&self) {
        // ALTER SYSTEM may not run in a transaction block: two statements, two round trips.
        self.execute(
            "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
        );
        self.execute("postgres", "SELECT pg_reload_conf()");
    }

    /// Waits until a standby streams synchronously (`pg_stat_replication.sync_state = 'sync'`):
    /// from then on a commit returns only once the standby has it.
    pub fn wait_synchronous(&self) {
        let url = self.url("postgres");
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            for _ in 0..300 {
                let rows = c
                    .query("SELECT sync_state FROM pg_stat_replication", &[])
                    .unwrap();
                if rows.iter().any(|r| r.get::<_, String>(0) == "sync") {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            panic!("the standby never became synchronous");
        })
        .join()
        .unwrap();
    }

    /// Promotes a standby to primary.
    pub fn promote(&self) {
        let o = tool(
            &self.bin,
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-w", "promote"],
        );
        assert!(
            o.status.success(),
            "promote: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// kill -9 of the postmaster and of every backend (each calls setsid(), so signalling the
    /// postmaster's process group would not reach them).
    pub fn kill9(&mut self) {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().map(str::to_string))
            .expect("a running postmaster");
        let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
        // A dead postmaster's pid file would stop a later pg_ctl.
        let _ = std::fs::remove_file(self.data.join("postmaster.pid"));
        self.stopped = true;
    }

    fn launch(bin: PathBuf, dir: tempfile::TempDir, data: PathBuf, extra: &str) -> Cluster {
        let mut port = 0;
        for _ in 0..5 {
            port = free_port();
            let opts = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=100 {extra}",
                dir.path().display()
            );
            let log = dir.path().join("server.log");
            let o = tool(
                &bin,
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-o",
                    &opts,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-t",
                    "30",
                    "start",
                ],
            );
            if o.status.success() {
                break;
            }
            port = 0;
        }
        assert!(port != 0, "PostgreSQL did not start");
        Cluster {
            _dir: dir,
            data,
            bin,
            port,
            stopped: false,
        }
    }

    /// The connection string of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `db`.
    pub fn create_db(&self, db: &str) -> String {
        self.execute("postgres", &format!("CREATE DATABASE {db}"));
        self.url(db)
    }

    /// Whether database `db` exists.
    pub fn database_exists(&self, db: &str) -> bool {
        let (url, db) = (self.url("postgres"), db.to_string());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
                .unwrap()
                .is_some()
        })
        .join()
        .unwrap()
    }

    /// Runs SQL in database `db` (on a thread of its own: the synchronous client must not run
    /// on an async runtime's thread).
    pub fn execute(&self, db: &str, sql: &str) {
        let (url, sql) = (self.url(db), sql.to_string());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute(&sql).unwrap();
        })
        .join()
        .unwrap();
    }

    /// Runs a tool of this server's installation (pg_dump, psql...) as the server's user.
    pub fn tool(&self, name: &str, args: &[&str]) -> std::process::Output {
        tool(&self.bin, name, args)
    }

    pub fn stop(&mut self) {
        if !self.stopped {
            let _ = tool(
                &self.bin,
                "pg_ctl",
                &[
                    "-D",
                    self.data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
            self.stopped = true;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
