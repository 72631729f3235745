//! `HyperTransport` against tiny raw-TCP servers on 127.0.0.1: timeouts, body caps, streaming
//! downloads, connection errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bfl_core::image::BadImage;
use bfl_core::transport::{
    temp_path_for, DownloadedFile, RequestKind, RequestMeta, Transport, TransportError,
};
use bfl_core::OutputFormat;
use bfl_hyper::HyperTransport;
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server that reads each request head and hands the socket to `respond`. Counts connections.
async fn serve<F, Fut>(respond: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&conns);
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                if read_head(&mut sock).await {
                    respond(sock).await;
                }
            });
        }
    });
    (addr, conns)
}

/// Reads up to the end of a request head (the tests send no request bodies).
async fn read_head(sock: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match sock.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => return false,
        }
    }
    true
}

fn request(addr: SocketAddr, kind: RequestKind, timeout: Option<Duration>) -> http::Request<Bytes> {
    let mut req = http::Request::get(format!("http://{addr}/v1/get_result?id=1"))
        .body(Bytes::new())
        .unwrap();
    req.extensions_mut().insert(RequestMeta { kind, timeout });
    req
}

fn transport() -> HyperTransport {
    HyperTransport::builder()
        .timeout(Duration::from_millis(400))
        .json_body_cap(64 * 1024)
        .image_body_cap(1024 * 1024)
        .build()
        .unwrap()
}

fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bfl-hyper-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entries(dir: &PathBuf) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `len` bytes that start like a JPEG (so a download accepts them as an image).
fn pattern(len: usize) -> Vec<u8> {
    const JPEG: [u8; 3] = [0xFF, 0xD8, 0xFF];
    (0..len)
        .map(|i| JPEG.get(i).copied().unwrap_or((i * 31 % 251) as u8))
        .collect()
}

/// Bounds a test step so a regression shows as a failure, not a hung test run.
async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("the transport hung")
}

#[tokio::test]
async fn answers_are_read_whole_over_a_pooled_connection() {
    let (addr, conns) = serve(|mut s| async move {
        loop {
            let body = br#"{"id":"1","status":"Pending","progress":0.5}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            if s.write_all(head.as_bytes()).await.is_err() || s.write_all(body).await.is_err() {
                return;
            }
            if !read_head(&mut s).await {
                return;
            }
        }
    })
    .await;
    let t = transport();
    for _ in 0..3 {
        let resp = bounded(t.send(request(addr, RequestKind::Poll, None)))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.body().starts_with(b"{\"id\":\"1\""));
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1, "the connection is reused");
}

#[tokio::test]
async fn a_hung_server_ends_in_timeout_not_a_hang() {
    let (addr, _) = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await;
    let t = transport();
    let err = bounded(t.send(request(addr, RequestKind::Poll, None)))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::Timeout(Duration::from_millis(400)));
    assert!(err.is_retryable());

    // The task's remaining deadline wins when it is shorter.
    let short = Some(Duration::from_millis(50));
    let err = bounded(t.send(request(addr, RequestKind::Poll, short)))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::Timeout(Duration::from_millis(50)));
}

#[tokio::test]
async fn a_body_that_stalls_midway_ends_in_timeout() {
    let (addr, _) = serve(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"id\":")
            .await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let err = bounded(transport().send(request(addr, RequestKind::Poll, None)))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn an_endless_chunked_body_hits_the_cap() {
    let (addr, _) = serve(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("2000\r\n{}\r\n", "x".repeat(0x2000));
        // Endless until the client hangs up.
        while s.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    let err = bounded(transport().send(request(addr, RequestKind::Poll, None)))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::BodyTooLarge { limit: 64 * 1024 });
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_declared_huge_body_is_refused_before_reading_it() {
    let (addr, _) = serve(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000000\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let err = bounded(transport().send(request(addr, RequestKind::Poll, None)))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::BodyTooLarge { limit: 64 * 1024 });
}

#[tokio::test]
async fn downloads_use_the_image_cap_and_polls_the_json_cap() {
    let body = pattern(200 * 1024);
    let (addr, _) = serve(move |mut s| {
        let body = body.clone();
        async move {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
        }
    })
    .await;
    let t = transport();
    let resp = bounded(t.send(request(addr, RequestKind::Download, None)))
        .await
        .unwrap();
    assert_eq!(resp.body().as_ref(), pattern(200 * 1024).as_slice());
    let err = bounded(t.send(request(addr, RequestKind::Poll, None)))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::BodyTooLarge { limit: 64 * 1024 });
}

#[tokio::test]
async fn streaming_download_writes_the_exact_bytes_and_no_temp_file() {
    let len = 700 * 1024 + 13;
    let (addr, _) = serve(move |mut s| async move {
        let body = pattern(len);
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
        let _ = s.write_all(head.as_bytes()).await;
        // In uneven pieces, to exercise frame-by-frame writing.
        for piece in body.chunks(4099) {
            let _ = s.write_all(piece).await;
        }
    })
    .await;
    let dir = scratch_dir("ok");
    let dest = dir.join("sample.png");
    let resp = bounded(transport().download_to(request(addr, RequestKind::Download, None), &dest))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.body().is_empty());
    assert_eq!(
        resp.extensions().get::<DownloadedFile>(),
        Some(&DownloadedFile {
            path: dest.clone(),
            len: len as u64,
            format: Some(OutputFormat::Jpeg),
        })
    );
    assert_eq!(std::fs::read(&dest).unwrap(), pattern(len));
    assert_eq!(entries(&dir), vec!["sample.png".to_owned()]);
}

#[tokio::test]
async fn a_download_creates_the_missing_directories_of_its_destination() {
    let (addr, _) = serve(move |mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n\xff\xd8\xffimage")
            .await;
    })
    .await;
    let dest = scratch_dir("nested").join("a/b/sample.jpeg");
    bounded(transport().download_to(request(addr, RequestKind::Download, None), &dest))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"\xff\xd8\xffimage");
}

/// Runs a failing download and checks nothing is left under the final or the temporary name.
async fn failed_download_leaves_nothing<F, Fut>(name: &str, respond: F) -> TransportError
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (addr, _) = serve(respond).await;
    let dir = scratch_dir(name);
    let dest = dir.join("sample.jpeg");
    let err = bounded(transport().download_to(request(addr, RequestKind::Download, None), &dest))
        .await
        .unwrap_err();
    assert!(
        !dest.exists(),
        "{name}: a partial image was left under the final name"
    );
    assert!(
        !temp_path_for(&dest).exists(),
        "{name}: the temporary file was left"
    );
    assert!(entries(&dir).is_empty(), "{name}: {:?}", entries(&dir));
    err
}

#[tokio::test]
async fn failed_downloads_leave_no_file() {
    let truncated = failed_download_leaves_nothing("truncated", |mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
            .await;
        let _ = s.write_all(&pattern(50_000)).await;
        // Closing early: hyper sees an incomplete body.
    })
    .await;
    assert!(
        matches!(truncated, TransportError::Protocol(_)),
        "{truncated:?}"
    );

    let stalled = failed_download_leaves_nothing("stalled", |mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
            .await;
        let _ = s.write_all(&pattern(50_000)).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    assert!(matches!(stalled, TransportError::Timeout(_)), "{stalled:?}");

    let huge = failed_download_leaves_nothing("huge", |mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("4000\r\n{}\r\n", "y".repeat(0x4000));
        while s.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    assert_eq!(huge, TransportError::BodyTooLarge { limit: 1024 * 1024 });
}

/// A server answering every request `200` with `body` under an honest `Content-Length`.
async fn serve_ok(body: &'static [u8]) -> SocketAddr {
    let (addr, _) = serve(move |mut s| async move {
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(body).await;
    })
    .await;
    addr
}

#[tokio::test]
async fn a_200_that_is_not_an_image_never_replaces_the_existing_file() {
    let dir = scratch_dir("not-an-image");
    let dest = dir.join("sample.jpeg");
    std::fs::write(&dest, b"the image paid for yesterday").unwrap();
    let html = serve_ok(b"<html><body>Access Denied</body></html>").await;
    let err = bounded(transport().download_to(request(html, RequestKind::Download, None), &dest))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"result body is not an image (starts with "<html><body>Access Denie…")"#
    );
    assert!(err.is_retryable());
    let empty = serve_ok(b"").await;
    let err = bounded(transport().download_to(request(empty, RequestKind::Download, None), &dest))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::BadImage(BadImage::Empty));
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"the image paid for yesterday"
    );
    assert_eq!(entries(&dir), vec!["sample.jpeg".to_owned()]);
}

#[tokio::test]
async fn an_error_answer_to_a_download_comes_back_with_its_body_and_writes_nothing() {
    let (addr, _) = serve(|mut s| async move {
        let body = b"<Error>AuthenticationFailed: signature expired</Error>";
        let head = format!(
            "HTTP/1.1 403 Forbidden\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(body).await;
    })
    .await;
    let dir = scratch_dir("403");
    let dest = dir.join("sample.webp");
    let resp = bounded(transport().download_to(request(addr, RequestKind::Download, None), &dest))
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.body().starts_with(b"<Error>AuthenticationFailed"));
    assert!(entries(&dir).is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = bounded(transport().send(request(addr, RequestKind::Submit, None)))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Connect(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_garbage_answer_is_a_protocol_error() {
    let (addr, _) = serve(|mut s| async move {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
    })
    .await;
    let err = bounded(transport().send(request(addr, RequestKind::Poll, None)))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn a_url_that_is_not_absolute_http_is_refused_before_sending() {
    for uri in ["/v1/get_result?id=1", "ftp://127.0.0.1/x"] {
        let req = http::Request::get(uri).body(Bytes::new()).unwrap();
        let err = transport().send(req).await.unwrap_err();
        assert!(matches!(err, TransportError::InvalidRequest(_)), "{err:?}");
    }
}

#[tokio::test]
async fn requests_in_flight_are_bounded() {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (Arc::clone(&now), Arc::clone(&peak));
    let (addr, conns) = serve(move |mut s| {
        let (now, peak) = (Arc::clone(&n), Arc::clone(&p));
        async move {
            loop {
                let cur = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(cur, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                let ok = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    .await
                    .is_ok();
                if !ok || !read_head(&mut s).await {
                    return;
                }
            }
        }
    })
    .await;
    let t = Arc::new(
        HyperTransport::builder()
            .max_concurrent_requests(2)
            .build()
            .unwrap(),
    );
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let t = Arc::clone(&t);
            tokio::spawn(async move { t.send(request(addr, RequestKind::Poll, None)).await })
        })
        .collect();
    for h in handles {
        assert_eq!(bounded(h).await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    // Connections are reused, and none is opened past the bound while one is on its way back
    // to the pool.
    assert!(conns.load(Ordering::SeqCst) <= 2, "{conns:?}");
}

#[tokio::test]
async fn https_to_a_server_that_does_not_speak_tls_fails_typed_without_panicking() {
    // Exercises the rustls set-up (explicit ring provider): the handshake fails cleanly.
    // Answers plain HTTP at once, without waiting for a request head (a ClientHello has none).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let mut req = request(addr, RequestKind::Poll, None);
    *req.uri_mut() = format!("https://{addr}/v1/get_result?id=1")
        .parse()
        .unwrap();
    let err = bounded(transport().send(req)).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Connect(_) | TransportError::Protocol(_)
        ),
        "{err:?}"
    );
}

/// A keep-alive server that answers each request `{}` after `hold`.
async fn serve_held(hold: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    serve(move |mut s| async move {
        loop {
            tokio::time::sleep(hold).await;
            let ok = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await
                .is_ok();
            if !ok || !read_head(&mut s).await {
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn idle_pooled_sockets_to_one_host_never_keep_another_host_waiting() {
    // The API host and the delivery host: two servers on their own ports.
    let (api, api_conns) = serve_held(Duration::from_millis(100)).await;
    let (delivery, _) = serve_held(Duration::ZERO).await;
    let t = Arc::new(
        HyperTransport::builder()
            .max_concurrent_requests(2)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    // Two requests at once to the API host: two sockets, both idle in the pool afterwards.
    let both = (0..2).map(|_| {
        let t = Arc::clone(&t);
        tokio::spawn(async move { t.send(request(api, RequestKind::Poll, None)).await })
    });
    for h in both.collect::<Vec<_>>() {
        assert_eq!(bounded(h).await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(
        api_conns.load(Ordering::SeqCst),
        2,
        "two sockets to the API host"
    );
    // Then the delivery host: it gets a connection (no idle API socket holds its place).
    let resp = bounded(t.send(request(delivery, RequestKind::Download, None))).await;
    assert_eq!(resp.map(|r| r.status()), Ok(http::StatusCode::OK));
    // And the API host still reuses its idle sockets.
    let again = bounded(t.send(request(api, RequestKind::Poll, None))).await;
    assert_eq!(again.map(|r| r.status()), Ok(http::StatusCode::OK));
    assert_eq!(api_conns.load(Ordering::SeqCst), 2, "reused, none opened");
}
