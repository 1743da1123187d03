//! Client-side liveness pings (PROTOCOL.md §3.6): every 14 s after the previous ping settled,
//! 15 s timeout, drop the socket when misses exceed one.

use std::time::{Duration, Instant};

/// Time between a ping settling and the next ping.
pub const PING_INTERVAL: Duration = Duration::from_millis(14_000);
/// How long a ping may stay unanswered.
pub const PING_TIMEOUT: Duration = Duration::from_millis(15_000);

/// What the monitor wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingAction {
    /// Send a ping now and report its id with [`PingMonitor::sent`].
    Send,
    /// Too many missed pongs: send `connection-timeout` and drop the socket.
    Drop,
}

/// The ping chain of one connection.
#[derive(Debug, Clone, Default)]
pub struct PingMonitor {
    next_ping: Option<Instant>,
    outstanding: Option<(String, Instant)>,
    misses: u32,
}

impl PingMonitor {
    /// Starts the chain on `connected`.
    pub fn start(&mut self, now: Instant) {
        *self = PingMonitor {
            next_ping: Some(now + PING_INTERVAL),
            outstanding: None,
            misses: 0,
        };
    }

    /// Stops pinging.
    pub fn stop(&mut self) {
        *self = PingMonitor::default();
    }

    /// Whether the chain runs.
    pub fn is_running(&self) -> bool {
        self.next_ping.is_some() || self.outstanding.is_some()
    }

    /// Next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (&self.outstanding, self.next_ping) {
            (Some((_, d)), _) => Some(*d),
            (None, n) => n,
        }
    }

    /// Advances time.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<PingAction> {
        if let Some((_, deadline)) = &self.outstanding {
            if now >= *deadline {
                self.outstanding = None;
                return self.settle(now, false);
            }
            return None;
        }
        match self.next_ping {
            Some(at) if now >= at => {
                self.next_ping = None;
                Some(PingAction::Send)
            }
            _ => None,
        }
    }

    /// Records that the ping with `id` went out at `now`.
    pub fn sent(&mut self, id: String, now: Instant) {
        self.outstanding = Some((id, now + PING_TIMEOUT));
    }

    /// Whether `id` is the outstanding ping.
    pub fn is_outstanding(&self, id: &str) -> bool {
        self.outstanding.as_ref().is_some_and(|(o, _)| o == id)
    }

    /// A reply to the outstanding ping: `ok` for a result, `false` for an error.
    pub fn reply(&mut self, id: &str, ok: bool, now: Instant) -> Option<PingAction> {
        if !self.is_outstanding(id) {
            return None;
        }
        self.outstanding = None;
        self.settle(now, ok)
    }

    fn settle(&mut self, now: Instant, ok: bool) -> Option<PingAction> {
        if ok {
            self.misses = 0;
        } else {
            self.misses += 1;
            if self.misses > 1 {
                self.stop();
                return Some(PingAction::Drop);
            }
        }
        self.next_ping = Some(now + PING_INTERVAL);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_consecutive_misses_drop() {
        let t0 = Instant::now();
        let mut m = PingMonitor::default();
        m.start(t0);
        assert_eq!(m.poll_timeout(), Some(t0 + PING_INTERVAL));
        let t1 = t0 + PING_INTERVAL;
        assert_eq!(m.handle_timeout(t1), Some(PingAction::Send));
        m.sent("a".into(), t1);
        let t2 = t1 + PING_TIMEOUT;
        assert_eq!(m.handle_timeout(t2), None);
        let t3 = t2 + PING_INTERVAL;
        assert_eq!(m.poll_timeout(), Some(t3));
        assert_eq!(m.handle_timeout(t3), Some(PingAction::Send));
        m.sent("b".into(), t3);
        assert_eq!(m.handle_timeout(t3 + PING_TIMEOUT), Some(PingAction::Drop));
        assert!(!m.is_running());
    }

    #[test]
    fn a_pong_resets_the_count() {
        let t0 = Instant::now();
        let mut m = PingMonitor::default();
        m.start(t0);
        let t1 = t0 + PING_INTERVAL;
        m.handle_timeout(t1);
        m.sent("a".into(), t1);
        m.handle_timeout(t1 + PING_TIMEOUT);
        let t2 = t1 + PING_TIMEOUT + PING_INTERVAL;
        m.handle_timeout(t2);
        m.sent("b".into(), t2);
        assert_eq!(m.reply("b", true, t2), None);
        let t3 = t2 + PING_INTERVAL;
        m.handle_timeout(t3);
        m.sent("c".into(), t3);
        assert_eq!(m.handle_timeout(t3 + PING_TIMEOUT), None);
        assert!(m.is_running());
        assert_eq!(m.reply("zzz", false, t3), None);
    }
}
