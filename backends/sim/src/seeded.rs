//! Seeded randomness for str0m, so that one simulation seed replays media exactly.
//!
//! Owns the randomness of every str0m `Rtc` built on a simulation thread: both the SDK's
//! (`media::rtc`) and the fake cloud's media peer's. Does not own the network's draws (loss,
//! latency, reordering: `network::SimNetwork`) or the engine's (its own seeded generator).
//!
//! Where str0m 0.25 and its crates draw randomness, and what is done about it here:
//!
//! * **`fastrand`'s thread-local generator** (str0m-proto's `NonCryptographicRng`): ICE
//!   ufrag/pwd and the ICE role tie-breaker (`is`), STUN transaction ids, candidate pair ids,
//!   SSRCs, CNAME, MSID and the leaky pacer. [`seed_thread`] seeds it.
//! * **dimpl's `SeededRng`**: DTLS client/server randoms, the handshake flight retransmission
//!   timer jitter (this one moves media timing), DTLS 1.2 explicit nonces, DTLS 1.3 AEAD limits.
//!   Without `Config::dangerously_set_rng_seed` it draws from `rand::random` (the `rand` crate's
//!   thread-local generator, seeded by the OS). str0m-aws-lc-rs only seeds it in str0m's own
//!   tests, so [`install_seeded_dtls`] installs a process-default str0m `CryptoProvider` whose
//!   DTLS provider builds dimpl with a seed drawn from the thread's (seeded) `fastrand`.
//! * **aws-lc's system RNG** (no API seeds it): the certificate's key and serial, the ECDHE
//!   key shares and the ECDSA signatures. They change bytes (keys, signatures, fingerprints),
//!   and the handshake records' lengths by a few bytes (DER signatures), but the simulated
//!   network draws loss and latency per datagram, so they move nothing as long as a flight
//!   takes the same number of datagrams (ours are far below the MTU). `fault_sim`'s
//!   `a_seed_replays_media_exactly` prints a digest of a run's timeline to compare replays in
//!   separate processes, where these bytes differ.
//! * **sctp-proto** (`rand::rng`): only for data channels, which the softphone never opens.
//!
//! A process default, not a per-`Rtc` setting: the SDK builds its `Rtc` inside the engine,
//! which takes no crypto provider, and str0m falls back on the process default when its config
//! names none. Only simulation processes install it ([`network::SimNetwork::new`] does): the
//! DTLS randomness it gives is predictable and must never be used on a real network. The
//! real-socket tests and the `fake-cloud` binary do not install it.
//!
//! [`network::SimNetwork::new`]: crate::network::SimNetwork::new

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::{CryptoError, CryptoProvider};

/// Seeds this thread's `fastrand` generator (every str0m non-cryptographic draw and, through
/// [`install_seeded_dtls`], dimpl's DTLS generator) and makes sure the seeded DTLS provider is
/// installed. Call on the thread that runs the simulation, before any `Rtc` is built.
pub fn seed_thread(seed: u64) {
    install_seeded_dtls();
    fastrand::seed(seed ^ 0x7374_7230_6d5f_7264);
}

/// Installs, once per process, the str0m crypto provider of the module docs: aws-lc-rs for
/// everything, with dimpl seeded from the calling thread's `fastrand`. Returns whether the
/// installed default is this one (`false` if something else installed a default first).
pub fn install_seeded_dtls() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        static DTLS: SeededDtls = SeededDtls;
        let provider = CryptoProvider {
            dtls_provider: &DTLS,
            ..str0m::crypto::from_feature_flags()
        };
        provider.install_process_default();
        CryptoProvider::get_default().is_some_and(|p| std::ptr::addr_eq(p.dtls_provider, &DTLS))
    })
}

/// dimpl with a seed drawn from the thread's `fastrand`.
#[derive(Debug)]
struct SeededDtls;

impl DtlsProvider for SeededDtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        dimpl::certificate::generate_self_signed_certificate().ok()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        // As str0m-aws-lc-rs: ICE already checked return routability, so no server cookie.
        let mut builder = dimpl::Config::builder()
            .use_server_cookie(false)
            .dangerously_set_rng_seed(fastrand::u64(..));
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config = Arc::new(
            builder
                .build()
                .map_err(|e| CryptoError::Other(format!("dimpl config: {e}")))?,
        );
        let cert = cert.clone();
        let dtls = match dtls_version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => {
                return Err(CryptoError::Other(format!(
                    "unsupported DTLS version {other}"
                )))
            }
        };
        Ok(Box::new(Seeded(dtls)))
    }
}

/// One dimpl instance behind str0m's DTLS trait (as str0m-aws-lc-rs wraps it).
struct Seeded(dimpl::Dtls);

impl std::fmt::Debug for Seeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seeded").finish_non_exhaustive()
    }
}

impl DtlsInstance for Seeded {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}
