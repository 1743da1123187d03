//! The reconnect back-off (PROTOCOL.md §3.8): exponential, no jitter, ×2, capped, with the
//! remembered delay that decays after success.

use std::time::{Duration, Instant};

/// Smallest starting delay.
pub const MIN_DELAY: Duration = Duration::from_millis(2000);
/// Floor applied to the remembered delay after a failure.
const FAILURE_FLOOR: Duration = Duration::from_millis(4000);
/// After this long without failures the remembered delay resets.
const TOTAL_RESET: Duration = Duration::from_secs(3600);

/// The remembered delay state (the browser keeps it in `sessionStorage`; we keep it in memory).
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    current: Duration,
    next_reduction: Option<Instant>,
    total_reset: Option<Instant>,
    max_delay: Duration,
}

impl ReconnectPolicy {
    /// A fresh policy capped at `max_delay` (90 s by default).
    pub fn new(max_delay: Duration) -> Self {
        ReconnectPolicy {
            current: Duration::ZERO,
            next_reduction: None,
            total_reset: None,
            max_delay: max_delay.max(MIN_DELAY),
        }
    }

    /// The remembered delay at `now`, after applying decays.
    pub fn remembered(&mut self, now: Instant) -> Duration {
        if self.total_reset.is_some_and(|t| now >= t) {
            self.current = Duration::ZERO;
            self.next_reduction = None;
            self.total_reset = None;
        }
        while let Some(at) = self.next_reduction {
            if now < at {
                break;
            }
            self.current /= 2;
            if self.current < MIN_DELAY {
                self.current = Duration::ZERO;
                self.next_reduction = None;
            } else {
                self.next_reduction = Some(at + self.current * 5);
            }
        }
        self.current
    }

    /// The starting delay for a new `connect()`: `min(max(remembered, 2 s), max)`.
    pub fn starting_delay(&mut self, now: Instant) -> Duration {
        self.remembered(now).max(MIN_DELAY).min(self.max_delay)
    }

    /// Records a failed attempt at `now`.
    pub fn record_failure(&mut self, now: Instant) {
        self.remembered(now);
        // Capped at the longest delay: it never needs to grow past it, and an uncapped value
        // doubles out of `Duration`/`Instant` range after about 60 failures in a row.
        self.current = self
            .current
            .saturating_mul(2)
            .max(FAILURE_FLOOR)
            .min(self.max_delay.max(FAILURE_FLOOR));
        self.next_reduction = now.checked_add(self.current * 5);
        self.total_reset = now.checked_add(TOTAL_RESET);
    }

    /// The longest delay.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }
}

/// The delays of one `connect()` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptSchedule {
    starting: Duration,
    max: Duration,
    first_immediate: bool,
}

impl AttemptSchedule {
    /// The very first connect of the SDK (first attempt immediate) or an explicit app request.
    pub fn immediate(starting: Duration, max: Duration) -> Self {
        AttemptSchedule {
            starting,
            max,
            first_immediate: true,
        }
    }

    /// An automatic reconnect: even the first attempt waits.
    pub fn delayed(starting: Duration, max: Duration) -> Self {
        AttemptSchedule {
            starting,
            max,
            first_immediate: false,
        }
    }

    /// Wait before attempt `n` (0-based).
    pub fn delay(&self, n: u32) -> Duration {
        let exp = if self.first_immediate {
            match n.checked_sub(1) {
                None => return Duration::ZERO,
                Some(e) => e,
            }
        } else {
            n
        };
        let factor = 1u32.checked_shl(exp.min(30)).unwrap_or(u32::MAX);
        self.starting
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_reconnect_delays_match_the_protocol() {
        let t0 = Instant::now();
        let mut p = ReconnectPolicy::new(Duration::from_secs(90));
        let s = AttemptSchedule::delayed(p.starting_delay(t0), p.max_delay());
        let got: Vec<u64> = (0..9).map(|n| s.delay(n).as_secs()).collect();
        assert_eq!(got, [2, 4, 8, 16, 32, 64, 90, 90, 90]);
        let first = AttemptSchedule::immediate(p.starting_delay(t0), p.max_delay());
        let got: Vec<u64> = (0..4).map(|n| first.delay(n).as_secs()).collect();
        assert_eq!(got, [0, 2, 4, 8]);
    }

    #[test]
    fn remembered_delay_grows_then_decays() {
        let t0 = Instant::now();
        let mut p = ReconnectPolicy::new(Duration::from_secs(90));
        p.record_failure(t0);
        assert_eq!(p.remembered(t0), Duration::from_secs(4));
        p.record_failure(t0);
        p.record_failure(t0);
        assert_eq!(p.starting_delay(t0), Duration::from_secs(16));
        // halves at now + 5×16 s, then 5×8 s later, then drops to zero below 2 s
        assert_eq!(
            p.remembered(t0 + Duration::from_secs(80)),
            Duration::from_secs(8)
        );
        assert_eq!(
            p.remembered(t0 + Duration::from_secs(120)),
            Duration::from_secs(4)
        );
        assert_eq!(
            p.remembered(t0 + Duration::from_secs(140)),
            Duration::from_secs(2)
        );
        assert_eq!(p.remembered(t0 + Duration::from_secs(150)), Duration::ZERO);
        // growth stops at the cap, however many failures come in a row
        let mut q = ReconnectPolicy::new(Duration::from_secs(90));
        for i in 0..10_000u64 {
            q.record_failure(t0 + Duration::from_secs(i));
        }
        assert_eq!(
            q.remembered(t0 + Duration::from_secs(10_000)),
            Duration::from_secs(90)
        );
        // total reset after an hour regardless
        p.record_failure(t0);
        assert_eq!(p.starting_delay(t0 + Duration::from_secs(3601)), MIN_DELAY);
    }
}
