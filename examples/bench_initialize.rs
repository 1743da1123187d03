//! Benchmark: `initialize()` against the local fake cloud over real TLS (median of N runs), with a
//! baseline measured in the same process: one fresh TLS connection + one REST round trip.
//!
//! ```text
//! cargo run --release -p genesys-webrtc-examples --example bench_initialize [-- RUNS]
//! ```
//!
//! `initialize()` as a user is three sequential steps of fresh TLS connections (org + user in
//! parallel, then the channel, then the WebSocket with the XMPP login and discovery) plus the
//! station lookup, so a ratio of about 4–6 against the baseline is what the protocol costs.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use genesys_webrtc::wire::http::{HttpRequest, Method, ResponseDecoder};
use genesys_webrtc::{InitializeOptions, SdkOptions};
use genesys_webrtc_hal::embedded_io_async::{Read as _, Write as _};
use genesys_webrtc_hal::{Connector as _, Endpoint, Security};
use genesys_webrtc_sim::cloud::CloudConfig;
use genesys_webrtc_sim::tls_server::FakeCloudServer;
use genesys_webrtc_smol::{SmolPlatform, TlsRoots};

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let median = v[v.len() / 2];
    let p90 = v[(v.len() * 9 / 10).min(v.len() - 1)];
    (v[0], median, p90)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let config = CloudConfig::for_environment("fake.genesys.test");
    let token = config.access_token.clone();
    let server = FakeCloudServer::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let roots = TlsRoots::webpki().with_pem(server.ca_cert_pem().as_bytes())?;
    let platform = SmolPlatform::with_roots(&roots);
    let port = server.addr().port();

    // Baseline: one TLS connection and one REST call.
    let mut baseline = Vec::new();
    for i in 0..runs + 2 {
        let t0 = Instant::now();
        smol::block_on(async {
            let mut s = platform
                .connector()
                .connect(Endpoint {
                    host: "127.0.0.1",
                    port,
                    security: Security::Tls,
                })
                .await?;
            let req = HttpRequest {
                method: Method::Get,
                host: format!("127.0.0.1:{port}"),
                target: "/api/v2/organizations/me".into(),
                headers: vec![
                    ("Authorization".into(), format!("Bearer {token}")),
                    ("Connection".into(), "close".into()),
                ],
                body: Vec::new(),
            };
            s.write_all(&req.encode()).await?;
            s.flush().await?;
            let mut dec = ResponseDecoder::new(Method::Get);
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    dec.finish()?;
                    break;
                }
                if dec.push(&buf[..n])?.is_some() {
                    break;
                }
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        })?;
        if i >= 2 {
            baseline.push(t0.elapsed()); // the first two runs warm up
        }
    }

    // initialize() as a user, a fresh SDK each run.
    let mut init = Vec::new();
    for i in 0..runs + 2 {
        let options = SdkOptions::builder()
            .environment(server.environment())
            .api_host(server.api_host())
            .ws_host(server.ws_host())
            .extra_root_certificates_pem(server.ca_cert_pem().as_bytes().to_vec())
            .access_token(token.clone())
            .build()?;
        let (sdk, thread) = genesys_webrtc_smol::start(options)?;
        let t0 = Instant::now();
        smol::block_on(sdk.initialize(InitializeOptions::default()))?;
        let took = t0.elapsed();
        smol::block_on(sdk.disconnect());
        drop(sdk);
        let _ = thread.join();
        if i >= 2 {
            init.push(took);
        }
        eprint!(".");
    }
    eprintln!();

    let (bmin, bmed, bp90) = stats(baseline);
    let (imin, imed, ip90) = stats(init);
    println!("runs per measurement: {runs} (after 2 warm-up runs)");
    println!(
        "baseline  TLS connect + 1 REST call: min {}  median {}  p90 {}",
        ms(bmin),
        ms(bmed),
        ms(bp90)
    );
    println!(
        "initialize() as a user over TLS:     min {}  median {}  p90 {}",
        ms(imin),
        ms(imed),
        ms(ip90)
    );
    println!(
        "ratio initialize/baseline (median): {:.2}   target: median under 15 ms -> {}",
        imed.as_secs_f64() / bmed.as_secs_f64(),
        if imed < Duration::from_millis(15) {
            "met"
        } else {
            "NOT met"
        }
    );
    server.shutdown();
    Ok(())
}
