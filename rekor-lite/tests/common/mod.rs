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
}

impl Server {
    /// Opens the log `config(dir)` describes and serves it on a free loopback port.
    pub async fn start_with(dir: &Path, config: fn(&Path) -> rekor_lite::Config) -> Server {
        let log =
            open_released(&config(dir)).unwrap_or_else(|e| panic!("cannot open the log: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
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
        }
    }

    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.await.unwrap();
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
