//! HTTP/1.1 by hand over plain sockets, for what a well-behaved client would
//! never send: truncated requests, oversized heads, one byte at a time.
//! Blocking (`std::net`): run it off the test's runtime (`spawn_blocking`).
//! Shared by the auth-api's and the frontend's tests.

#![allow(dead_code)] // Each test binary uses part of it.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, SocketAddr, TcpStream},
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// Longest a test waits for any one answer: well past both servers'
/// request timeout, so a server that never answers fails the test instead
/// of hanging it.
pub const ANSWER_WAIT: Duration = Duration::from_secs(15);

/// The base URL's address (`http://127.0.0.1:PORT`).
pub fn addr_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().expect("a test base URL is http://IP:PORT")
}

/// A request's head (with `Connection: close`, so the answer ends with
/// the connection) and its body.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// What came back on one connection.
#[derive(Debug)]
pub struct Answer {
    /// The status of the first response, if one arrived.
    pub status: Option<u16>,
    /// Everything read, until the server closed (or `ANSWER_WAIT` ran out).
    pub raw: Vec<u8>,
    /// The server closed the connection (rather than the wait running out).
    pub closed: bool,
}

impl Answer {
    /// The value of header `name` in the response head.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.raw);
        let head = text.split("\r\n\r\n").next()?;
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Sends `bytes` on a new connection, optionally half-closes it (the client
/// is done sending), and reads until the server closes it.
pub fn send(addr: SocketAddr, bytes: &[u8], half_close: bool) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(ANSWER_WAIT))?;
    // The server may answer (and close) before reading everything sent,
    // e.g. an oversized head: what it said still counts.
    let _ = stream.write_all(bytes);
    if half_close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    Ok(read_answer(&mut stream))
}

/// Reads until the server closes the connection, resets it, or
/// `ANSWER_WAIT` runs out.
pub fn read_answer(stream: &mut TcpStream) -> Answer {
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false;
            }
            // Reset: closed, abruptly.
            Err(_) => break true,
        }
        if started.elapsed() > ANSWER_WAIT {
            break false;
        }
    };
    Answer { status: status_of(&raw), raw, closed }
}

/// The status code of the response starting `raw`.
pub fn status_of(raw: &[u8]) -> Option<u16> {
    let line = raw.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

/// Panics on the servers' worker threads (`actix-server worker N`) since
/// the process started: a panic there drops the connection and restarts
/// the worker, which a client sees only as a closed socket.
pub fn server_panics() -> usize {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    INSTALLED.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_worker =
                std::thread::current().name().is_some_and(|n| n.starts_with("actix-server worker"));
            if on_worker {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    PANICS.load(Ordering::SeqCst)
}

/// Sends one byte of `bytes` every `every` until the server closes the
/// connection: how long that took, or `None` if it sent everything and
/// the server still had not closed it by `ANSWER_WAIT`. Also what it said.
pub fn slow_loris(addr: SocketAddr, bytes: &[u8], every: Duration) -> (Option<Duration>, Answer) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connects");
    // Between bytes, watch for the server closing (a read of 0 or an
    // answer) rather than sleeping blind.
    stream.set_read_timeout(Some(every)).expect("read timeout");
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    for byte in bytes {
        if stream.write_all(&[*byte]).is_err() {
            return (Some(started.elapsed()), answer(raw, true));
        }
        match stream.read(&mut buf) {
            Ok(0) => return (Some(started.elapsed()), answer(raw, true)),
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                // An answer (a 408) before the request was complete; the
                // close follows it.
                let mut rest = read_answer(&mut stream);
                raw.append(&mut rest.raw);
                return (rest.closed.then(|| started.elapsed()), answer(raw, rest.closed));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (Some(started.elapsed()), answer(raw, true)),
        }
        if started.elapsed() > ANSWER_WAIT {
            break;
        }
    }
    (None, answer(raw, false))
}

/// [`slow_loris`] on a kept-alive connection: one complete request and its
/// answer first, then the next request one byte every `every`.
pub fn slow_loris_after_one(addr: SocketAddr, every: Duration) -> (Option<Duration>, Answer) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(ANSWER_WAIT)).expect("read timeout");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("writes");
    let mut first = Vec::new();
    let mut buf = [0u8; 4096];
    while !complete(&first) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => panic!("no answer to the first request: {first:?}"),
            Ok(n) => first.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(status_of(&first), Some(200), "{}", String::from_utf8_lossy(&first));
    let started = Instant::now();
    stream.set_read_timeout(Some(every)).expect("read timeout");
    for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: slowly\r\n\r\n" {
        if stream.write_all(&[*byte]).is_err() {
            return (Some(started.elapsed()), answer(Vec::new(), true));
        }
        match stream.read(&mut buf) {
            Ok(0) => return (Some(started.elapsed()), answer(Vec::new(), true)),
            Ok(n) => {
                let mut rest = read_answer(&mut stream);
                let mut raw = buf[..n].to_vec();
                raw.append(&mut rest.raw);
                return (rest.closed.then(|| started.elapsed()), answer(raw, rest.closed));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (Some(started.elapsed()), answer(Vec::new(), true)),
        }
        if started.elapsed() > ANSWER_WAIT {
            break;
        }
    }
    (None, answer(Vec::new(), false))
}

/// A whole response with a `Content-Length` body has arrived.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&raw[..end]);
    let length = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0usize);
    raw.len() >= end + 4 + length
}

/// This process's soft descriptor limit (`ulimit -n`), raised first toward
/// `wanted` as far as the hard limit allows.
fn descriptor_limit(wanted: usize) -> Option<usize> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write only the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        let wanted = wanted as libc::rlim_t;
        if limit.rlim_cur < wanted {
            let raised = libc::rlimit { rlim_cur: wanted.min(limit.rlim_max), ..limit };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    usize::try_from(limit.rlim_cur).ok()
}

/// `wanted` idle connections, or as many as the descriptor limit allows
/// with room to spare: each costs two descriptors here when the server
/// runs in this process (both ends), and other tests run alongside.
pub fn idle_count(wanted: usize) -> usize {
    let spare = 1024;
    let room = descriptor_limit(2 * wanted + spare)
        .map_or(wanted, |limit| limit.saturating_sub(spare) / 2);
    if room < wanted {
        eprintln!("only {room} idle connections: the descriptor limit (ulimit -Hn) is low");
    }
    wanted.min(room)
}

fn answer(raw: Vec<u8>, closed: bool) -> Answer {
    Answer { status: status_of(&raw), raw, closed }
}

/// Opens `n` connections that send nothing; they are closed when dropped.
/// Stops early (returning fewer) if this process runs out of descriptors.
/// A short pause every hundred lets the server accept them as they come:
/// the listener's queue (128 by default) is for a burst, not a flood, and
/// a connection left in it is one the server has not started timing.
pub fn idle_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut open = Vec::with_capacity(n);
    for i in 0..n {
        match TcpStream::connect(addr) {
            Ok(s) => open.push(s),
            Err(_) => break,
        }
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    open
}

/// How many of `streams` the server still holds open at `deadline`: each
/// is read until the server closes it (a read of 0, a 408 then the close,
/// or a reset). One still silent then is poked with a byte: a connection
/// the server never accepted (its handshake lost in a full queue) answers
/// with a reset, and the server holds nothing for it.
pub fn still_open_at(streams: &mut [TcpStream], deadline: Instant) -> usize {
    let mut silent: Vec<&mut TcpStream> =
        streams.iter_mut().filter_map(|s| (!closed_by(&mut *s, deadline)).then_some(s)).collect();
    for s in &mut silent {
        let _ = s.write_all(b"\r\n");
    }
    let grace = Instant::now() + Duration::from_millis(500);
    silent.into_iter().filter_map(|s| (!closed_by(s, grace)).then_some(())).count()
}

/// Reads `s` until the server closes it or `until` passes (then a read
/// costs a millisecond at most).
fn closed_by(s: &mut TcpStream, until: Instant) -> bool {
    let mut buf = [0u8; 512];
    loop {
        let left = until.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        s.set_read_timeout(Some(left)).expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return true,
            // A 408 (request timeout) first; keep reading to the close.
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}
