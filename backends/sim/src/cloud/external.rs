//! Calls whose media peer is external to the fake cloud (e.g. a browser's `RTCPeerConnection`
//! in an interop test): the fake cloud runs the signalling exactly as for
//! [`FakeCloud::place_inbound_call`] (propose → proceed → offer in mode A or B, with the
//! offer's candidates trickled → answer → candidates) but sends the caller's SDP offer instead of
//! a [`super::media_peer`] one, and records what the client answers for the caller to hand to
//! the external peer. No datagrams are sent or accepted for such calls.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use super::{CallId, CallOptions, FakeCloud};

/// What the fake cloud holds for an externally-answered call.
#[derive(Debug, Clone, Default)]
pub(crate) struct External {
    /// The external peer's SDP offer (candidates included; trickled per the cloud config).
    pub(crate) offer: String,
    /// The client's answer SDP once received (mode B: mapped from Jingle).
    pub(crate) answer: Option<String>,
    /// The client's candidates (`candidate:…`, no `a=`), then `end-of-candidates` if signalled.
    pub(crate) client_candidates: Vec<String>,
}

impl FakeCloud {
    /// Like [`FakeCloud::place_inbound_call`], but the media peer is external: `offer_sdp` (an
    /// SDP offer made elsewhere, e.g. by a browser) is what the client is offered. `opts.codec`
    /// and `opts.tone_hz` are unused. Read the client's answer with
    /// [`FakeCloud::external_answer`] and its trickled candidates with
    /// [`FakeCloud::external_client_candidates`].
    pub fn place_inbound_call_external(
        &mut self,
        now: Instant,
        opts: CallOptions,
        offer_sdp: String,
    ) -> CallId {
        self.place_inbound_call_with(
            now,
            opts,
            External {
                offer: offer_sdp,
                ..External::default()
            },
        )
    }

    /// The client's answer SDP for an external call (`None` before it arrives or for another
    /// call). In mode B it is the SDP mapped from the `session-accept`.
    pub fn external_answer(&self, call: CallId) -> Option<String> {
        self.external_of(call).and_then(|e| e.answer.clone())
    }

    /// The client's ICE candidates for an external call, in arrival order, as `candidate:…`
    /// lines (no `a=`), with `end-of-candidates` appended when the client signals it (mode A
    /// `a=end-of-candidates`, mode B `<gathering-complete/>`). Candidates carried inside a
    /// mode B `session-accept` are included.
    pub fn external_client_candidates(&self, call: CallId) -> Vec<String> {
        self.external_of(call)
            .map(|e| e.client_candidates.clone())
            .unwrap_or_default()
    }
}
