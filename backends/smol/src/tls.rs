//! TLS trust roots and the one `rustls::ClientConfig` the connector uses.
//!
//! Owns which certificate authorities are trusted: the Mozilla roots from `webpki-roots`, plus
//! optional extra roots given as PEM (a company CA, or a test CA for the local fake cloud).
//! Certificates are always verified; there is deliberately no way to turn that off.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::CertificateDer;

/// Why extra trust roots could not be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootsError {
    /// The PEM text contained no `CERTIFICATE` section.
    #[error("the PEM data contains no certificate")]
    NoCertificate,
    /// A PEM section was malformed (bad markers or base64).
    #[error("the PEM data is malformed")]
    Pem(#[source] pem::Error),
    /// A certificate decoded from PEM is not a usable trust anchor (bad DER, unsupported key).
    #[error("certificate number {index} in the PEM data is not a valid trust anchor")]
    BadCertificate {
        /// Zero-based position of the certificate among the PEM's certificates.
        index: usize,
        /// What rustls/webpki said about it.
        #[source]
        source: rustls::Error,
    },
    /// The PEM file could not be read.
    #[error("could not read the CA file")]
    Io(#[source] std::io::Error),
}

/// The set of certificate authorities a [`crate::SmolConnector`] trusts.
///
/// Start from [`TlsRoots::webpki`] (the public web PKI, what Genesys Cloud uses) and add extra
/// roots with [`TlsRoots::add_pem`]; or start from [`TlsRoots::empty`] to trust *only* the roots
/// you add.
///
/// ```
/// use genesys_webrtc_smol::TlsRoots;
///
/// let roots = TlsRoots::webpki();
/// assert!(roots.len() > 100);
/// let err = TlsRoots::webpki().with_pem(b"not a certificate").unwrap_err();
/// assert!(matches!(err, genesys_webrtc_smol::RootsError::NoCertificate));
/// ```
#[derive(Debug, Clone)]
pub struct TlsRoots {
    store: RootCertStore,
}

impl Default for TlsRoots {
    fn default() -> Self {
        Self::webpki()
    }
}

impl TlsRoots {
    /// The Mozilla root program's CAs (from `webpki-roots`).
    pub fn webpki() -> Self {
        TlsRoots {
            store: RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        }
    }

    /// No roots at all: only CAs added afterwards are trusted.
    pub fn empty() -> Self {
        TlsRoots {
            store: RootCertStore::empty(),
        }
    }

    /// Adds every `CERTIFICATE` in `pem` as a trusted root and returns how many were added.
    ///
    /// Other PEM sections (keys, CRLs) are ignored. Nothing is added unless every certificate is
    /// valid, so an error leaves the set unchanged.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, RootsError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(RootsError::Pem)?;
        self.add_all(certs)
    }

    /// Like [`TlsRoots::add_pem`], reading the PEM from a file.
    pub fn add_pem_file(&mut self, path: impl AsRef<Path>) -> Result<usize, RootsError> {
        let pem = std::fs::read(path).map_err(RootsError::Io)?;
        self.add_pem(&pem)
    }

    /// Adds one DER-encoded root certificate.
    pub fn add_der(&mut self, der: CertificateDer<'_>) -> Result<(), RootsError> {
        self.add_all(vec![der.into_owned()]).map(|_| ())
    }

    /// Builder form of [`TlsRoots::add_pem`].
    pub fn with_pem(mut self, pem: &[u8]) -> Result<Self, RootsError> {
        self.add_pem(pem)?;
        Ok(self)
    }

    /// Number of trusted roots.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether no root is trusted (every TLS connection would fail).
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Builds the client configuration: aws-lc-rs crypto (the same provider str0m uses), rustls' safe default protocol versions,
    /// these roots, no client certificate, ALPN `http/1.1`.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            // The aws-lc-rs provider ships cipher suites and key exchanges for every default protocol
            // version, so this cannot fail; a failure would be a build/linking bug.
            .expect("the aws-lc-rs provider supports rustls' default protocol versions")
            .with_root_certificates(self.store.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    fn add_all(&mut self, certs: Vec<CertificateDer<'static>>) -> Result<usize, RootsError> {
        if certs.is_empty() {
            return Err(RootsError::NoCertificate);
        }
        let mut store = self.store.clone();
        for (index, cert) in certs.iter().enumerate() {
            store
                .add(cert.clone())
                .map_err(|source| RootsError::BadCertificate { index, source })?;
        }
        let added = certs.len();
        self.store = store;
        tracing::debug!(added, total = self.store.len(), "added extra TLS roots");
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_pem_is_rejected() {
        let mut roots = TlsRoots::empty();
        assert!(matches!(roots.add_pem(b""), Err(RootsError::NoCertificate)));
        assert!(roots.is_empty());
    }

    #[test]
    fn bad_base64_is_rejected() {
        let pem = b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            TlsRoots::empty().add_pem(pem),
            Err(RootsError::Pem(_))
        ));
    }

    #[test]
    fn missing_end_marker_is_rejected() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(matches!(
            TlsRoots::empty().add_pem(pem),
            Err(RootsError::Pem(_))
        ));
    }

    #[test]
    fn bad_der_is_rejected_and_leaves_roots_unchanged() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n";
        let mut roots = TlsRoots::webpki();
        let before = roots.len();
        assert!(matches!(
            roots.add_pem(pem),
            Err(RootsError::BadCertificate { index: 0, .. })
        ));
        assert_eq!(roots.len(), before);
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let path = std::env::temp_dir().join("genesys-webrtc-smol-no-such-ca.pem");
        assert!(matches!(
            TlsRoots::empty().add_pem_file(path),
            Err(RootsError::Io(_))
        ));
    }

    #[test]
    fn client_config_offers_http11() {
        let config = TlsRoots::webpki().client_config();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
