//! TLS for the frontend's own outgoing calls: to upstream apps at
//! `https://` URLs (with `UPSTREAM_CA_FILE`) and to an auth-api at
//! `AUTH_API_URL=https://…` (system roots only).
//!
//! rustls with the `ring` provider (no OpenSSL, no C toolchain beyond what
//! `ring` itself builds), trusting the system's roots — read once per
//! process, honouring `SSL_CERT_FILE` and `SSL_CERT_DIR` — plus, for apps
//! behind a private CA, the PEM certificates of `UPSTREAM_CA_FILE`.
//! Certificates are verified as browsers do (chain, name, time); there is
//! no switch to turn that off.

use std::{
    fmt,
    path::Path,
    sync::{Arc, OnceLock},
};

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, pem::PemObject},
};

/// The client side of TLS, shared by every outgoing connection.
#[derive(Clone)]
pub struct ClientTls(Arc<ClientConfig>);

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientTls")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("UPSTREAM_CA_FILE {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

impl ClientTls {
    /// The system's roots, and `extra_ca`'s certificates if given.
    pub fn new(extra_ca: Option<&Path>) -> Result<Self, TlsError> {
        let mut roots = system_roots().clone();
        if let Some(path) = extra_ca {
            let fail =
                |reason: String| TlsError::CaFile { path: path.display().to_string(), reason };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| fail(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(e.to_string()))?;
            if certs.is_empty() {
                return Err(fail("holds no PEM certificate".into()));
            }
            let (_, rejected) = roots.add_parsable_certificates(certs);
            if rejected > 0 {
                return Err(fail(format!("{rejected} certificate(s) could not be used")));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // HTTP/1.1 only: WebSocket upgrades are relayed over it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self(Arc::new(config)))
    }

    /// The system's roots only.
    pub fn system() -> Self {
        static SYSTEM: OnceLock<ClientTls> = OnceLock::new();
        SYSTEM.get_or_init(|| Self::new(None).expect("no CA file to fail on")).clone()
    }

    /// For `awc::Connector::rustls_0_23`.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.0.clone()
    }
}

/// The system's trusted roots, loaded once: unreadable ones are logged and
/// skipped (one bad file must not stop every https call).
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "a system root certificate could not be read");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::warn!(ignored, "system root certificates rustls cannot use were skipped");
        }
        if added == 0 {
            tracing::warn!("no system root certificates: https calls will fail unless UPSTREAM_CA_FILE names a CA");
        }
        roots
    })
}
