//! Monotonic time. The SDK core never reads a clock itself; the driver asks this trait.

use core::future::Future;
use std::time::Instant;

/// A monotonic clock with an async sleep.
///
/// Real platforms use the OS clock; the simulator uses a virtual clock so whole-SDK tests run in
/// virtual time. `now()` must never go backwards.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Completes at (or after) `deadline`. Completes at once if `deadline` has passed.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()>;
}

impl<T: Clock + ?Sized> Clock for &T {
    fn now(&self) -> Instant {
        T::now(self)
    }
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> {
        T::sleep_until(self, deadline)
    }
}
