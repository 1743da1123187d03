//! A throw-away certificate authority and a server certificate for localhost TLS.
//!
//! Owns generating (with rcgen, ECDSA P-256) a CA and one leaf certificate signed by it, and the
//! `rustls::ServerConfig` that serves the leaf. Clients trust the CA's PEM instead of skipping
//! verification: nothing in this crate or the SDK can turn verification off. Keys live only in
//! memory and are never logged.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why a test CA or its server configuration could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestCaError {
    /// No server name was given for the leaf certificate.
    #[error("a server certificate needs at least one name")]
    NoServerNames,
    /// rcgen refused a name or failed to generate a key or certificate.
    #[error("could not generate the test certificates")]
    Generate(#[from] rcgen::Error),
    /// rustls rejected the certificate chain or key.
    #[error("could not build the TLS server configuration")]
    ServerConfig(#[source] rustls::Error),
}

/// A freshly generated CA and a server certificate chain + key signed by it.
///
/// `Debug` leaves out the private key.
pub struct TestCa {
    /// The CA certificate as PEM: what clients add to their trusted roots.
    pub ca_cert_pem: String,
    /// The server's chain: leaf first, then the CA.
    pub server_cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (PKCS#8).
    pub server_key: PrivateKeyDer<'static>,
}

impl core::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestCa")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("server_cert_chain", &self.server_cert_chain.len())
            .field("server_key", &"{REDACTED}")
            .finish()
    }
}

impl TestCa {
    /// The names a fake cloud for `environment` answers to: `localhost`, `127.0.0.1`, `::1`,
    /// `api.{environment}` and `streaming.{environment}`.
    pub fn names_for_environment(environment: &str) -> Vec<String> {
        vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            format!("api.{environment}"),
            format!("streaming.{environment}"),
        ]
    }

    /// Generates a CA and a leaf certificate for `server_names` (DNS names, or IP literals which
    /// become IP-address SANs).
    pub fn generate(server_names: &[String]) -> Result<TestCa, TestCaError> {
        let first_name = server_names.first().ok_or(TestCaError::NoServerNames)?;

        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "genesys-webrtc-sim test CA");
        ca_params
            .distinguished_name
            .push(DnType::OrganizationName, "genesys-webrtc-sim");
        let ca = ca_params.self_signed(&ca_key)?;

        let leaf_key = KeyPair::generate()?;
        let mut leaf_params = CertificateParams::new(server_names.to_vec())?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, first_name.as_str());
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.use_authority_key_identifier_extension = true;
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;

        tracing::debug!(names = ?server_names, "generated a test CA and server certificate");
        Ok(TestCa {
            ca_cert_pem: ca.pem(),
            server_cert_chain: vec![leaf.der().clone(), ca.der().clone()],
            server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        })
    }

    /// A TLS server configuration serving the leaf: aws-lc-rs crypto (the same provider str0m uses), rustls' safe default protocol
    /// versions, no client authentication, ALPN `http/1.1`.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TestCaError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TestCaError::ServerConfig)?
            .with_no_client_auth()
            .with_single_cert(self.server_cert_chain.clone(), self.server_key.clone_key())
            .map_err(TestCaError::ServerConfig)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_usable_server_config() {
        let ca = TestCa::generate(&TestCa::names_for_environment("fake.genesys.test"))
            .expect("generate");
        assert!(ca.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(ca.server_cert_chain.len(), 2);
        assert!(ca.server_config().is_ok());
        assert!(!format!("{ca:?}").contains("PRIVATE"));
    }

    #[test]
    fn no_names_is_an_error() {
        assert!(matches!(
            TestCa::generate(&[]),
            Err(TestCaError::NoServerNames)
        ));
    }

    #[test]
    fn invalid_names_are_errors() {
        assert!(matches!(
            TestCa::generate(&["b\u{fc}cher.example".to_owned()]),
            Err(TestCaError::Generate(_))
        ));
    }
}
