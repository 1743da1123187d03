//! Running the SDK on smol: the [`genesys_webrtc::Platform`] impl and [`start`].

use std::hash::{BuildHasher as _, Hasher as _};
use std::thread::JoinHandle;

use genesys_webrtc::{Platform, Sdk, SdkOptions};

use crate::{RootsError, SmolClock, SmolConnector, SmolPlatform, SmolUdp, TlsRoots};

impl Platform for SmolPlatform {
    type Clock = SmolClock;
    type Connector = SmolConnector;
    type Udp = SmolUdp;

    fn udp(&self) -> &SmolUdp {
        SmolPlatform::udp(self)
    }

    fn clock(&self) -> &SmolClock {
        SmolPlatform::clock(self)
    }

    fn connector(&self) -> &SmolConnector {
        SmolPlatform::connector(self)
    }

    fn random_seed(&self) -> u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.finish()
    }
}

impl SmolPlatform {
    /// A platform trusting the `webpki-roots` CAs plus the options' extra root CAs
    /// ([`SdkOptions::extra_root_certificates_pem`]).
    pub fn for_options(options: &SdkOptions) -> Result<Self, RootsError> {
        let mut roots = TlsRoots::webpki();
        for pem in &options.extra_root_certificates_pem {
            roots.add_pem(pem)?;
        }
        Ok(SmolPlatform::with_roots(&roots))
    }
}

/// Starts the SDK on a background thread, and returns its handle.
///
/// The thread runs the SDK driver until every clone of the returned [`Sdk`] is dropped (the SDK
/// then disconnects and the thread ends); join the handle to wait for that.
///
/// The thread waits with `futures::executor::block_on`, not `smol::block_on`: its sockets and
/// timers are async-io's, driven by async-io's own reactor thread either way. A thread in
/// `smol::block_on` takes turns with every other such thread at driving that reactor (waking up
/// for the others' events and handing them on), and while any thread is in `smol::block_on`
/// async-io's reactor thread polls on a 50 µs–10 ms back-off. With no thread of the process in
/// `smol::block_on` during a call, the reactor thread sleeps until an event and each event
/// wakes only the thread that waits for it. Measured with `bench_calls` (the SDK in a process
/// of its own, its audio loop on `futures::executor::block_on` too; medians of 3 runs on a
/// shared 2-core VM): the reactor thread's CPU per call-second went from about 0.9 % of a core
/// to 0.55 %, the whole process's from 4.0 % to 3.6 % with echo cancellation and from 3.0 % to
/// 2.4 % without, and the process made about 40 % fewer context switches. Applications get
/// the most from it when their own long-running waits (the audio loop's thread, an event
/// loop) do the same.
///
/// ```no_run
/// use genesys_webrtc::{InitializeOptions, SdkOptions};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let options = SdkOptions::builder()
///     .environment("mypurecloud.com")
///     .access_token("…")
///     .build()?;
/// let (sdk, _thread) = genesys_webrtc_smol::start(options)?;
/// smol::block_on(sdk.initialize(InitializeOptions::default()))?;
/// # Ok(()) }
/// ```
pub fn start(options: SdkOptions) -> Result<(Sdk, JoinHandle<()>), StartError> {
    let platform = SmolPlatform::for_options(&options)?;
    let (sdk, driver) = Sdk::new(platform, options);
    let thread = std::thread::Builder::new()
        .name("genesys-webrtc".into())
        .spawn(move || futures::executor::block_on(driver.run()))
        .map_err(StartError::Thread)?;
    Ok((sdk, thread))
}

/// Why [`start`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// An extra root CA could not be read.
    #[error(transparent)]
    Roots(#[from] RootsError),
    /// The driver thread could not be started.
    #[error("could not start the SDK thread: {0}")]
    Thread(std::io::Error),
}
