//! Engine unit tests that need no server: API preconditions and the first outputs.
//! Whole exchanges against the fake cloud live in `backends/sim/tests`.

use std::time::Instant;

use super::*;
use crate::options::SdkOptions;

fn user_engine() -> (Engine, Instant) {
    let now = Instant::now();
    let opts = SdkOptions::builder()
        .environment("example.test")
        .access_token("tok")
        .build()
        .unwrap();
    (Engine::new(opts, now, 7), now)
}

fn drain(e: &mut Engine) -> Vec<Output> {
    let mut v = Vec::new();
    loop {
        match e.poll_output() {
            Output::Timeout(_) => return v,
            o => v.push(o),
        }
    }
}

#[test]
fn initialize_starts_org_and_user_in_parallel() {
    let (mut e, now) = user_engine();
    e.initialize(now, InitializeOptions::default()).unwrap();
    let out = drain(&mut e);
    let connects: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Transmit(Transmit::Connect {
                host,
                port,
                security,
                ..
            }) => Some((host.clone(), *port, *security)),
            _ => None,
        })
        .collect();
    assert_eq!(
        connects,
        vec![
            ("api.example.test".to_string(), 443, Security::Tls),
            ("api.example.test".to_string(), 443, Security::Tls)
        ]
    );
    assert_eq!(
        e.initialize(now, InitializeOptions::default()),
        Err(InitializeError::AlreadyInitialized)
    );
}

#[test]
fn guest_needs_a_security_code_and_reconnect_needs_initialize() {
    let now = Instant::now();
    let opts = SdkOptions::builder()
        .environment("example.test")
        .organization_id("org")
        .build()
        .unwrap();
    let mut e = Engine::new(opts, now, 1);
    assert_eq!(
        e.initialize(now, InitializeOptions::default()),
        Err(InitializeError::MissingSecurityCode)
    );
    assert_eq!(e.reconnect(now), Err(ConnectionError::NotInitialized));
    assert!(drain(&mut e).is_empty());
}

#[test]
fn rest_timeout_fails_initialize_without_panicking() {
    let (mut e, now) = user_engine();
    e.initialize(now, InitializeOptions::default()).unwrap();
    drain(&mut e);
    let later = now + std::time::Duration::from_secs(31);
    e.handle_input(Input::Timeout(later));
    let out = drain(&mut e);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(SdkEvent::Error(SdkError {
            kind: SdkErrorKind::Initialization,
            ..
        }))
    )));
    assert!(matches!(
        e.take_initialize_result(),
        Some(Err(InitializeError::Http(
            crate::rest::RestError::Network { .. }
        )))
    ));
}

#[test]
fn garbage_on_unknown_connections_is_ignored() {
    let (mut e, now) = user_engine();
    e.handle_input(Input::Received(now, ConnId(99), b"\x00\xffjunk"));
    e.handle_input(Input::Closed(now, ConnId(98)));
    assert!(drain(&mut e).is_empty());
}
