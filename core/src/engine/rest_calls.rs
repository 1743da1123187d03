//! REST calls in flight: one HTTP/1.1 connection per call (`Connection: close`), its decoder,
//! its 30 s timeout, and the retry wait for retryable statuses.
//!
//! Owns the bookkeeping only; the engine decides what a finished call means.

use std::time::Instant;

use genesys_webrtc_hal::Security;

use super::{ConnId, Engine, Transmit};
use crate::options::LogLevel;
use crate::rest::{self, RestError, RestRequest, RetryClass};
use crate::wire::http::{HttpResponse, ResponseDecoder};

/// What a call is for, so the engine knows what to do with the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RestPurpose {
    Organization,
    User,
    CreateChannel,
    Station,
    Resubscribe,
    RedeemCode,
    /// `GET /conversations/{id}` to find the user's participant for `action`.
    ConversationLookup {
        conversation_id: String,
        action: super::participant::ParticipantAction,
    },
    /// The participant PATCH/POST for `action`.
    ParticipantUpdate {
        action: super::participant::ParticipantAction,
    },
    /// `POST /conversations/calls` (start_softphone_session).
    PlaceCall,
}

/// One call.
pub(crate) struct RestCall {
    pub(crate) id: u64,
    pub(crate) purpose: RestPurpose,
    pub(crate) request: RestRequest,
    pub(crate) conn: Option<ConnId>,
    pub(crate) decoder: ResponseDecoder,
    /// When the current try times out.
    pub(crate) deadline: Option<Instant>,
    /// When to start the next try (retry wait).
    pub(crate) retry_at: Option<Instant>,
    pub(crate) tries: u32,
}

/// What to do after a try ended.
pub(crate) enum TryOutcome {
    /// The call is finished with this result.
    Finished(Result<HttpResponse, RestError>),
    /// Retry at this time.
    RetryAt(Instant),
}

impl RestCall {
    pub(crate) fn new(id: u64, purpose: RestPurpose, request: RestRequest) -> Self {
        RestCall {
            id,
            purpose,
            decoder: ResponseDecoder::new(request.method),
            request,
            conn: None,
            deadline: None,
            retry_at: None,
            tries: 0,
        }
    }

    /// Earliest deadline of this call.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match (self.deadline, self.retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Classifies a response (or a network failure) of the current try.
    pub(crate) fn outcome(&self, now: Instant, result: Result<HttpResponse, String>) -> TryOutcome {
        let describe = self.request.describe();
        match result {
            Ok(resp) if (200..300).contains(&resp.status) => TryOutcome::Finished(Ok(resp)),
            Ok(resp) => {
                let retry_after = rest::retry_after(&resp);
                if self.request.retry == RetryClass::WithRetry
                    && rest::is_retryable_status(resp.status)
                {
                    let wait = retry_after.unwrap_or(rest::DEFAULT_RETRY_DELAY);
                    return TryOutcome::RetryAt(now + wait);
                }
                TryOutcome::Finished(Err(RestError::Status {
                    request: describe,
                    status: resp.status,
                    retry_after,
                }))
            }
            Err(reason) => TryOutcome::Finished(Err(RestError::Network {
                request: describe,
                reason,
            })),
        }
    }
}

impl Engine {
    pub(crate) fn start_call(
        &mut self,
        now: Instant,
        purpose: RestPurpose,
        request: RestRequest,
    ) -> u64 {
        let id = self.next_call;
        self.next_call += 1;
        tracing::debug!(request = %request.describe(), "REST call");
        self.calls.push(RestCall::new(id, purpose, request));
        self.try_call(now, id);
        id
    }

    pub(crate) fn try_call(&mut self, now: Instant, id: u64) {
        let conn = self.new_conn();
        let base = self.opts.api_base();
        let Some(call) = self.calls.iter_mut().find(|c| c.id == id) else {
            return;
        };
        call.conn = Some(conn);
        call.deadline = Some(now + rest::REQUEST_TIMEOUT);
        call.retry_at = None;
        call.tries += 1;
        call.decoder = crate::wire::http::ResponseDecoder::new(call.request.method);
        self.transmit(Transmit::Connect {
            conn,
            host: base.host.clone(),
            port: base.port,
            security: if base.tls {
                Security::Tls
            } else {
                Security::Plain
            },
        });
    }

    pub(crate) fn cancel_call(&mut self, id: u64) {
        if let Some(pos) = self.calls.iter().position(|c| c.id == id) {
            let call = self.calls.remove(pos);
            if let Some(conn) = call.conn {
                self.transmit(Transmit::Close { conn });
            }
        }
    }

    pub(crate) fn finish_try(
        &mut self,
        now: Instant,
        id: u64,
        result: Result<HttpResponse, String>,
    ) {
        let Some(pos) = self.calls.iter().position(|c| c.id == id) else {
            return;
        };
        match &result {
            Ok(r) => {
                tracing::debug!(request = %self.calls[pos].request.describe(), status = r.status, "REST response")
            }
            Err(e) => {
                tracing::debug!(request = %self.calls[pos].request.describe(), error = %e, "REST failure")
            }
        }
        if let Some(conn) = self.calls[pos].conn.take() {
            self.transmit(Transmit::Close { conn });
        }
        self.calls[pos].deadline = None;
        match self.calls[pos].outcome(now, result) {
            TryOutcome::RetryAt(at) => {
                let what = self.calls[pos].request.describe();
                self.calls[pos].retry_at = Some(at);
                self.trace(
                    LogLevel::Warn,
                    format!(
                        "{what} will be retried in {:?}",
                        at.saturating_duration_since(now)
                    ),
                );
            }
            TryOutcome::Finished(result) => {
                let call = self.calls.remove(pos);
                self.on_rest_done(now, call, result);
            }
        }
    }
}
