//! Session-level types shared by the engine and the application: pending sessions, sessions,
//! their events and termination reasons.

pub mod events;
