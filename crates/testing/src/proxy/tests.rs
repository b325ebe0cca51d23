//! The proxy's own behaviour against a small HTTP/1.1 origin: framing,
//! keep-alive, and each fault seen from both ends.

use std::sync::atomic::AtomicU64;

use super::*;

/// A small origin server: `PUT` answers the body's length, `GET /big` 100 000
/// bytes, `GET /chunked` three chunks, `HEAD` a length without a body.
/// Counts the requests it saw.
struct Origin {
    port: u16,
    seen: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn origin() -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let task = tokio::spawn(async move {
        let mut set = JoinSet::new();
        loop {
            let (s, _) = listener.accept().await.unwrap();
            let counter = counter.clone();
            set.spawn(async move {
                let mut p = Peer::new(s);
                while let Ok(Some(h)) = p.read_head().await {
                    let head = Head::parse(&h).unwrap();
                    let body = head.request_body().unwrap();
                    let mut sink = Vec::new();
                    read_body(&mut p, body, &mut sink).await;
                    counter.fetch_add(1, Ordering::Relaxed);
                    let answer = match (head.method(), head.start_line().as_str()) {
                        ("PUT", _) => {
                            let text = sink.len().to_string();
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}", text.len())
                                .into_bytes()
                        }
                        ("HEAD", _) => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec(),
                        (_, "GET /chunked") => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n".to_vec(),
                        _ => {
                            let mut a = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
                            a.extend(std::iter::repeat_n(b'x', 100_000));
                            a
                        }
                    };
                    if p.write(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Origin { port, seen, task }
}

/// Reads a body into `out` through the proxy's own framing.
async fn read_body(p: &mut Peer, body: Body, out: &mut Vec<u8>) {
    match body {
        Body::Empty => {}
        Body::Length(n) => {
            let mut rest = n;
            while rest > 0 {
                let bytes = p.take(rest).await.unwrap();
                assert!(!bytes.is_empty(), "closed mid-body");
                rest -= bytes.len() as u64;
                out.extend(bytes);
            }
        }
        Body::Chunked => loop {
            let line = p.line().await.unwrap();
            let text = String::from_utf8(line).unwrap();
            let size = u64::from_str_radix(text.trim().split(';').next().unwrap(), 16).unwrap();
            if size == 0 {
                while p.line().await.unwrap() != b"\r\n" {}
                return;
            }
            let mut rest = size + 2;
            let mut chunk = Vec::new();
            while rest > 0 {
                let bytes = p.take(rest).await.unwrap();
                rest -= bytes.len() as u64;
                chunk.extend(bytes);
            }
            chunk.truncate(chunk.len() - 2);
            out.extend(chunk);
        },
        Body::UntilClose => loop {
            let bytes = p.take(u64::MAX).await.unwrap();
            if bytes.is_empty() {
                return;
            }
            out.extend(bytes);
        },
    }
}

/// Sends one request on `p`; returns the status and body, or `None` when
/// the connection ended before the whole response came.
async fn request(p: &mut Peer, method: &str, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    p.write(head.as_bytes()).await.ok()?;
    p.write(body).await.ok()?;
    let h = p.read_head().await.ok()??;
    let response = Head::parse(&h).unwrap();
    let framing = response
        .response_body(&Head::parse(head.as_bytes()).unwrap())
        .unwrap();
    let mut out = Vec::new();
    match framing.known_len() {
        Some(n) => {
            let mut rest = n;
            while rest > 0 {
                let bytes = p.take(rest).await.ok()?;
                if bytes.is_empty() {
                    return None;
                }
                rest -= bytes.len() as u64;
                out.extend(bytes);
            }
        }
        None => read_body(p, framing, &mut out).await,
    }
    Some((response.status().unwrap(), out))
}

async fn connect(proxy: &FaultProxy) -> Peer {
    Peer::new(
        TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn without_faults_keep_alive_and_every_framing_pass_through() {
    let o = origin().await;
    let proxy = FaultProxy::start_with_seed(o.port, 1).await.unwrap();
    let mut c = connect(&proxy).await;
    let (s, b) = request(&mut c, "PUT", "/a", &[7u8; 300_000]).await.unwrap();
    assert_eq!((s, b), (200, b"300000".to_vec()));
    let (s, b) = request(&mut c, "GET", "/big", b"").await.unwrap();
    assert_eq!((s, b.len()), (200, 100_000));
    let (s, b) = request(&mut c, "HEAD", "/big", b"").await.unwrap();
    assert_eq!((s, b.len()), (200, 0));
    let (s, b) = request(&mut c, "GET", "/chunked", b"").await.unwrap();
    assert_eq!((s, b), (200, b"abcdefg".to_vec()));
    let (s, _) = request(&mut c, "PUT", "/a", b"").await.unwrap();
    assert_eq!(s, 200);
    let stats = proxy.stats();
    assert_eq!((stats.connections, stats.requests), (1, 5), "{stats:?}");
    assert_eq!(o.seen.load(Ordering::Relaxed), 5);
    assert!(proxy.journal().is_empty());
}

#[tokio::test]
async fn errors_are_answered_in_the_servers_place_and_keep_the_connection() {
    let o = origin().await;
    let proxy = FaultProxy::start_with_seed(o.port, 2).await.unwrap();
    proxy.set(Faults::outage());
    let mut c = connect(&proxy).await;
    let mut statuses = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let (s, body) = request(&mut c, "PUT", "/a", &[1u8; 5000]).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("<Code>"), "{s}");
        statuses.insert(s);
    }
    let (s, body) = request(&mut c, "HEAD", "/a", b"").await.unwrap();
    assert!(s >= 429 && body.is_empty(), "{s}");
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        vec![429, 500, 503]
    );
    assert_eq!(o.seen.load(Ordering::Relaxed), 0, "the origin saw nothing");
    // switched off at runtime: the same connection goes through again
    proxy.off();
    let (s, b) = request(&mut c, "PUT", "/a", b"xyz").await.unwrap();
    assert_eq!((s, b), (200, b"3".to_vec()));
    assert_eq!(proxy.stats().errors, 31);
}

#[tokio::test]
async fn a_dropped_request_never_reaches_the_origin() {
    let o = origin().await;
    let proxy = FaultProxy::start_with_seed(o.port, 3).await.unwrap();
    proxy.set(Faults {
        drop_request: 1.0,
        ..Faults::none()
    });
    let mut c = connect(&proxy).await;
    assert_eq!(request(&mut c, "PUT", "/a", &[1u8; 100_000]).await, None);
    assert_eq!(o.seen.load(Ordering::Relaxed), 0);
    assert_eq!(proxy.stats().dropped_requests, 1);
}

#[tokio::test]
async fn a_dropped_response_comes_after_the_origin_acted() {
    let o = origin().await;
    let proxy = FaultProxy::start_with_seed(o.port, 4).await.unwrap();
    proxy.set(Faults {
        drop_response: 1.0,
        ..Faults::none()
    });
    for (method, path) in [
        ("PUT", "/a"),
        ("GET", "/big"),
        ("GET", "/chunked"),
        ("HEAD", "/a"),
    ] {
        let mut c = connect(&proxy).await;
        assert_eq!(
            request(&mut c, method, path, b"body").await,
            None,
            "{method} {path}"
        );
    }
    assert_eq!(o.seen.load(Ordering::Relaxed), 4);
    let journal = proxy.journal();
    assert!(
        journal[1].contains("dropped after 50000 of 100000"),
        "{journal:?}"
    );
}

#[tokio::test]
async fn delays_and_stalls_slow_the_response_without_changing_it() {
    let o = origin().await;
    let proxy = FaultProxy::start_with_seed(o.port, 5).await.unwrap();
    proxy.set(Faults {
        stall: 1.0,
        stall_for: Duration::from_millis(300),
        delay: 1.0,
        max_delay: Duration::from_millis(100),
        ..Faults::none()
    });
    let mut c = connect(&proxy).await;
    let started = tokio::time::Instant::now();
    let (s, b) = request(&mut c, "GET", "/big", b"").await.unwrap();
    assert_eq!((s, b.len()), (200, 100_000));
    let (s, b) = request(&mut c, "GET", "/chunked", b"").await.unwrap();
    assert_eq!((s, b), (200, b"abcdefg".to_vec()));
    assert!(started.elapsed() >= Duration::from_millis(600));
    let stats = proxy.stats();
    assert_eq!((stats.stalls, stats.delays), (2, 2), "{stats:?}");
}

#[tokio::test]
async fn a_trigger_switches_the_faults_at_the_first_matching_request() {
    let o = origin().await;
    let proxy = FaultProxy::start_with_seed(o.port, 7).await.unwrap();
    proxy.set_from("PUT /index/", Faults::outage());
    let mut c = connect(&proxy).await;
    assert_eq!(
        request(&mut c, "PUT", "/data/1", b"x").await.unwrap().0,
        200
    );
    assert_eq!(
        request(&mut c, "GET", "/index/1", b"").await.unwrap().0,
        200
    );
    assert!(request(&mut c, "PUT", "/index/1", b"x").await.unwrap().0 >= 429);
    assert!(request(&mut c, "GET", "/data/1", b"").await.unwrap().0 >= 429);
    assert_eq!(proxy.faults(), Faults::outage());
    assert_eq!(o.seen.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn refused_connections_are_closed_before_any_request() {
    let o = origin().await;
    let proxy = FaultProxy::start_with_seed(o.port, 6).await.unwrap();
    proxy.set(Faults {
        refuse: 1.0,
        ..Faults::none()
    });
    let mut c = connect(&proxy).await;
    assert_eq!(request(&mut c, "GET", "/big", b"").await, None);
    assert_eq!(proxy.stats().refused, 1);
}

#[test]
fn the_same_seed_draws_the_same_faults() {
    let draws = |seed, stream| {
        let mut r = Rng::new(seed, stream);
        (0..50)
            .map(|_| draw(&mut r, &Faults::mixed()))
            .collect::<Vec<_>>()
    };
    assert_eq!(draws(42, 7), draws(42, 7));
    assert_ne!(draws(42, 7), draws(42, 8));
    assert_ne!(draws(42, 7), draws(43, 7));
    let mut r = Rng::new(9, 1);
    let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
    assert!((2200..2800).contains(&hits), "{hits}");
}

#[test]
fn proxy_urls_point_at_the_proxy() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = rt.block_on(FaultProxy::start_with_seed(4321, 0)).unwrap();
    let url = proxy.url("s3://b/p?endpoint=http://127.0.0.1:4321&region=r");
    assert_eq!(
        url,
        format!(
            "s3://b/p?endpoint=http://127.0.0.1:{}&region=r",
            proxy.port()
        )
    );
}
