//! Replays the fuzz seed corpora (`fuzz/corpus/<target>/`) and any saved crash inputs
//! (`fuzz/regressions/<target>/`) through `genesys_webrtc::fuzz`, so every `cargo test` runs what
//! the fuzzer starts from (STYLE.md (b)7). Also checks that the scripted engine seeds still reach
//! the states they were written for (logged in; calls started and answered), so the engine
//! targets keep starting deep.

use std::fs;
use std::path::{Path, PathBuf};

use genesys_webrtc::fuzz::{engine_call_events, engine_session_events, entry_point, TARGETS};
use genesys_webrtc::SdkEvent;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// `(target, files)` for every directory under `root`, sorted.
fn target_dirs(root: &Path) -> Vec<(String, Vec<PathBuf>)> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<(String, Vec<PathBuf>)> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_dir())
        .map(|dir| {
            let name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 target directory name")
                .to_owned();
            let mut files: Vec<PathBuf> = fs::read_dir(&dir)
                .expect("readable target directory")
                .map(|e| e.expect("readable file entry").path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            (name, files)
        })
        .collect();
    dirs.sort();
    dirs
}

fn replay(root: &Path, require_files: bool) -> usize {
    let mut runs = 0;
    for (target, files) in target_dirs(root) {
        let f = entry_point(&target)
            .unwrap_or_else(|| panic!("{}: no fuzz entry point named {target:?}", root.display()));
        assert!(
            !require_files || !files.is_empty(),
            "{}/{target} has no seed files",
            root.display()
        );
        for file in files {
            let data = fs::read(&file).expect("readable corpus file");
            eprintln!("replaying {}", file.display());
            f(&data);
            runs += 1;
        }
    }
    runs
}

#[test]
fn seed_corpus_replays_without_panics() {
    let root = fuzz_dir().join("corpus");
    let dirs = target_dirs(&root);
    for (name, _) in TARGETS {
        assert!(
            dirs.iter().any(|(d, _)| d == name),
            "fuzz target {name:?} has no seed corpus in {}",
            root.display()
        );
    }
    assert!(replay(&root, true) > 0);
}

#[test]
fn saved_regressions_replay_without_panics() {
    replay(&fuzz_dir().join("regressions"), false);
}

fn session_events(seed: &str) -> Vec<SdkEvent> {
    let path = fuzz_dir().join("corpus/engine_session").join(seed);
    engine_session_events(&fs::read(&path).expect("readable seed"))
}

fn connected_and_ready(events: &[SdkEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, SdkEvent::Connected { .. }))
        && events.iter().any(|e| matches!(e, SdkEvent::Ready))
}

#[test]
fn session_seeds_reach_the_logged_in_states() {
    let user = session_events("user_login");
    assert!(connected_and_ready(&user), "user_login: {user:#?}");
    let guest = session_events("guest_login");
    assert!(connected_and_ready(&guest), "guest_login: {guest:#?}");
    let traffic = session_events("user_connected_traffic");
    assert!(
        traffic
            .iter()
            .any(|e| matches!(e, SdkEvent::Notification { .. })),
        "user_connected_traffic: {traffic:#?}"
    );
}

fn call_events(seed: &str) -> Vec<SdkEvent> {
    let path = fuzz_dir().join("corpus/engine_call").join(seed);
    engine_call_events(&fs::read(&path).expect("readable seed"))
}

fn started_sessions(events: &[SdkEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, SdkEvent::SessionStarted(_)))
        .count()
}

#[test]
fn call_seeds_start_sessions() {
    for seed in ["sdp_over_xmpp_call", "jingle_call", "reinvite_and_end"] {
        let events = call_events(seed);
        assert!(
            connected_and_ready(&events),
            "{seed}: not logged in: {events:#?}"
        );
        assert!(
            started_sessions(&events) > 0,
            "{seed}: no session started: {events:#?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, SdkEvent::SessionEnded { .. })),
            "{seed}: the session never ended: {events:#?}"
        );
    }
    let sdp = call_events("sdp_over_xmpp_call");
    assert!(
        sdp.iter().any(|e| matches!(e, SdkEvent::PendingSession(_))),
        "sdp_over_xmpp_call: the propose gave no pendingSession: {sdp:#?}"
    );
}
