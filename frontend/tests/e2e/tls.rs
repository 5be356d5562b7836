//! An upstream at an `https://` URL: reached over TLS with the certificate
//! verified — against `UPSTREAM_CA_FILE` for a private CA, and refused
//! (502) when nothing the frontend trusts signed it.

use std::{path::PathBuf, sync::Arc};

use awc::http::StatusCode;
use frontend::{
    routes::{Access, Kind},
    tls::ClientTls,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use shared::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    harness::{Options, spawn_with},
    upstream::route_to,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls")).join(name)
}

/// An https server on 127.0.0.1 with the fixture certificate: answers every
/// request with the `Authorization` it received, then closes.
async fn https_app() -> String {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("upstream.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("upstream-key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    actix_web::rt::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            actix_web::rt::spawn(async move {
                // A failed handshake (an untrusting client) ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_lowercase();
                let auth = head
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: "))
                    .unwrap_or("none")
                    .to_owned();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{auth}",
                    auth.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    url
}

#[actix_web::test]
async fn an_https_upstream_is_reached_with_its_certificate_verified() {
    let url = https_app().await;
    let upstreams = vec![route_to(&url, "/secure", Access::SignedIn, Kind::Page)];
    let tls = ClientTls::new(Some(&fixture("ca.pem"))).expect("the test CA loads");
    let stack =
        spawn_with(Options { upstreams: upstreams.clone(), tls, ..Options::default() }).await;
    stack.add_user("alice", &[Role::User]).await;
    let alice = stack.browser();
    alice.sign_in_ok("alice").await;
    let page = alice.get("/secure/x").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.starts_with("bearer ey"), "the token went over TLS: {}", page.body);

    // Without the private CA, the same app is not trusted: 502, no token sent.
    let untrusting = spawn_with(Options { upstreams, ..Options::default() }).await;
    untrusting.add_user("alice", &[Role::User]).await;
    let alice = untrusting.browser();
    alice.sign_in_ok("alice").await;
    assert_eq!(alice.get("/secure/x").await.status, StatusCode::BAD_GATEWAY);
}

#[test]
fn a_ca_file_that_is_not_pem_certificates_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = ClientTls::new(Some(&empty)).unwrap_err().to_string();
    assert!(err.contains("UPSTREAM_CA_FILE") && err.contains("no PEM certificate"), "{err}");
    assert!(ClientTls::new(Some(&dir.path().join("missing.pem"))).is_err());
}
