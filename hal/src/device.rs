//! Device descriptions shared by audio and video enumeration.

/// What a device does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// A microphone (the JS `audioinput`).
    AudioInput,
    /// A speaker or headset (the JS `audiooutput`).
    AudioOutput,
    /// A camera (the JS `videoinput`).
    VideoInput,
}

/// One device as a platform lists it (the JS `MediaDeviceInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaDevice {
    /// Stable id the application passes back to choose this device.
    pub id: String,
    /// Human-readable name.
    pub label: String,
    /// What the device does.
    pub kind: MediaKind,
    /// Whether this is the system default for its kind.
    pub is_system_default: bool,
}
