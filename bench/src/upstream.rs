//! The trivial app the proxy benchmarks put behind the frontend: HTTP/1.1
//! keep-alive on 127.0.0.1, two bytes per answer, so what the proxied run
//! adds over the direct one is Cloakroom's alone. `/app/bytes/N` streams N
//! bytes (the memory row); `/app/storm…` notes each request's
//! `Authorization` (the refresh-storm row).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::http::Error;

pub struct App {
    pub addr: SocketAddr,
    storm_tokens: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    pub async fn start() -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let storm_tokens: Arc<Mutex<Vec<String>>> = Arc::default();
        let tokens = storm_tokens.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, tokens.clone()));
            }
        });
        Ok(Self { addr, storm_tokens, task })
    }

    /// The `Authorization` values of the storm requests since the last call.
    pub fn take_storm_tokens(&self) -> Vec<String> {
        std::mem::take(&mut *self.storm_tokens.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection: requests until the peer closes it.
async fn serve(mut stream: TcpStream, tokens: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::with_capacity(8192);
    loop {
        let Some(end) = read_head(&mut stream, &mut buf).await else { return };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let mut lines = head.lines();
        let path = lines.next().and_then(|l| l.split(' ').nth(1)).unwrap_or("/").to_owned();
        let mut length = 0usize;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("authorization") && path.starts_with("/app/storm") {
                tokens.lock().unwrap_or_else(|e| e.into_inner()).push(value.to_owned());
            }
        }
        // The bodies these benchmarks send are small; skip them.
        while buf.len() < length {
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..length);
        let sent = match path.strip_prefix("/app/bytes/").and_then(|n| n.parse::<u64>().ok()) {
            Some(total) => send_bytes(&mut stream, total).await,
            None => {
                let answer =
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
                stream.write_all(answer).await
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Reads until a whole request head is in `buf`; its length.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i + 4);
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// `total` bytes, made as they are sent.
async fn send_bytes(stream: &mut TcpStream, total: u64) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {total}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let chunk = vec![b'x'; 256 * 1024];
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..n]).await?;
        left -= n as u64;
    }
    Ok(())
}
