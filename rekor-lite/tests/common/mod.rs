//! What rekor-lite's HTTP tests share: a log served on 127.0.0.1 until stopped.

use std::path::Path;

pub struct Server {
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Opens the log `config(dir)` describes and serves it on a free loopback port.
    pub async fn start_with(dir: &Path, config: fn(&Path) -> rekor_lite::Config) -> Server {
        // A restarted server may find the store still held for a moment by the previous one's
        // last connections, which close asynchronously after shutdown.
        let mut tries = 0;
        let log = loop {
            match rekor_lite::open(&config(dir)) {
                Ok(l) => break l,
                Err(e) if tries < 100 && e.to_string().contains("already open") => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot open the log: {e}"),
            }
        };
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
