//! Read-only counts of the engine's internal collections, so tests (the signaling model test,
//! the fault simulation) and monitoring can check that memory stays bounded whatever the peer
//! sends. Owns nothing; changes nothing.

use super::Engine;

/// How many entries each of the engine's internal collections holds right now. Each one has a
/// limit (named in its field's docs); a count above it is a bug.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineSizes {
    /// JMI propose records (≤ 64, `MAX_PENDING`).
    pub proposes: usize,
    /// Pending sessions the app was told about (≤ 64).
    pub pending: usize,
    /// Remembered `inin-sdp-over-xmpp` flags per session id (only for live proposes, pending
    /// sessions and media sessions).
    pub sdp_over_xmpp_flags: usize,
    /// Media sessions (≤ 256, `MAX_SESSIONS`).
    pub sessions: usize,
    /// Tracked conversations.
    pub conversations: usize,
    /// REST requests in flight or waiting to retry.
    pub rest_calls: usize,
    /// Session ids with early ICE candidates buffered (≤ 10).
    pub early_candidate_sessions: usize,
    /// Unclaimed `start_softphone_session` results (≤ 64).
    pub place_call_results: usize,
    /// Outstanding pubsub subscribe requests.
    pub pending_subscribes: usize,
    /// Events and transmits queued for `poll_output`.
    pub queued_outputs: usize,
    /// Media UDP sockets held open (one per media address per session, or per closed media
    /// awaiting its TURN deallocation; see [`Engine::open_udp_sockets`]).
    pub udp_sockets: usize,
    /// Closed media of ended sessions kept while their TURN deallocations are unanswered
    /// (each for at most the 5 s deallocation grace; only relayed calls leave one).
    pub closing_media: usize,
}

impl Engine {
    /// The sizes of the engine's internal collections (see [`EngineSizes`]).
    pub fn sizes(&self) -> EngineSizes {
        EngineSizes {
            proposes: self.proposes.len(),
            pending: self.pending.len(),
            sdp_over_xmpp_flags: self.sdp_over_xmpp_ids.len(),
            sessions: self.sessions.len(),
            conversations: self.conversations.len(),
            rest_calls: self.calls.len(),
            early_candidate_sessions: self.early_candidates.len(),
            place_call_results: self.place_call_results.len(),
            pending_subscribes: self.pending_subscribes.len(),
            queued_outputs: self.queue.len(),
            udp_sockets: self.open_udp_sockets(),
            closing_media: self.closing_media.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::Engine;

    /// The size of the values a map of the engine stores inline.
    fn value_size<K, V>(_field: impl Fn(&Engine) -> &BTreeMap<K, V>) -> usize {
        std::mem::size_of::<V>()
    }

    #[test]
    fn sessions_are_boxed_in_their_map() {
        // A B-tree leaf holds 11 values inline: with a session (~11.6 kB, its str0m `Rtc`
        // ~10 kB) as the value, the first call allocated a 128 kB leaf.
        let size = value_size(|e| &e.sessions);
        assert!(size <= 16, "a session map value is {size} bytes");
    }
}
