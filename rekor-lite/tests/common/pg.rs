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
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
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
        let mut port = 0;
        for _ in 0..5 {
            port = free_port();
            let opts = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=100",
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
