//! The limits every server applies, against real sockets on 127.0.0.1: a half-sent header is
//! cut off, idle connections cannot lock new clients out, a slow request gets the JSON 408,
//! and the descriptor limit is raised.

use std::time::{Duration, Instant};

use axum::routing::get;
use sigstore_lite_server::serve::{serve_with, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(limits: Limits) -> String {
    let app = axum::Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(serve_with(l, app, std::future::pending(), limits));
    addr
}

fn limits(max_connections: usize) -> Limits {
    Limits {
        header_read: Duration::from_millis(500),
        request: Duration::from_millis(400),
        max_connections,
    }
}

#[tokio::test]
async fn a_half_sent_header_is_cut_off() {
    let addr = start(limits(16)).await;
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server closes the connection (possibly after a 408) instead of waiting for ever.
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(r.is_ok(), "the connection was still open after 5 s");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed too early"
    );
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}

#[tokio::test]
async fn idle_connections_cannot_lock_clients_out() {
    let addr = start(limits(4)).await;
    // Fill every slot with connections that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // A real client is served once the idle ones time out.
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("served after the idle connections were closed");
    assert_eq!(r.text().await.unwrap(), "ok");
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(idle);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_too() {
    let addr = start(limits(2)).await;
    // Two clients that made one request each and keep their connections open, idle.
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
        idle.push(s);
    }
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("served after the idle keep-alive connections were closed");
    assert_eq!(r.text().await.unwrap(), "ok");
    drop(idle);
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_the_json_408() {
    let addr = start(limits(16)).await;
    let r = reqwest::get(format!("http://{addr}/slow")).await.unwrap();
    assert_eq!(r.status(), 408);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (v["code"].as_u64(), v["reason"].as_str()),
        (Some(408), Some("request_timeout"))
    );
    assert_eq!(
        reqwest::get(format!("http://{addr}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
}

#[test]
fn the_descriptor_limit_is_raised_to_the_hard_limit() {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let now = sigstore_lite_server::serve::raise_nofile_limit();
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    assert_eq!(soft, now);
    assert!(soft >= 1024.min(hard));
    assert!(Limits::for_this_process().max_connections >= 64);
}
