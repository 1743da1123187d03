//! The OS monotonic clock with smol timers.
//!
//! Owns nothing but the mapping from [`genesys_webrtc_hal::Clock`] onto `std::time::Instant` and
//! [`smol::Timer`]; it does not spawn and does not need a running executor (the timer is driven
//! by `async-io`'s reactor, which any executor polling the future will do).

use std::time::Instant;

use genesys_webrtc_hal::Clock;

/// The real monotonic clock (`std::time::Instant`) with sleeps backed by [`smol::Timer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmolClock;

impl SmolClock {
    /// Creates the clock.
    pub fn new() -> Self {
        SmolClock
    }
}

impl Clock for SmolClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        if deadline > Instant::now() {
            smol::Timer::at(deadline).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sleep_until_waits_for_the_deadline() {
        let clock = SmolClock::new();
        let start = clock.now();
        let deadline = start + Duration::from_millis(20);
        smol::block_on(clock.sleep_until(deadline));
        assert!(clock.now() >= deadline);
    }

    #[test]
    fn sleep_until_a_past_deadline_completes_at_once() {
        let clock = SmolClock::new();
        let past = clock.now();
        smol::block_on(clock.sleep_until(past));
        let by_ref: &SmolClock = &clock;
        smol::block_on(Clock::sleep_until(&by_ref, past));
    }
}
