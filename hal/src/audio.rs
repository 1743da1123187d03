//! Audio capture and playout: PCM `i16`, interleaved, in frames of 10 or 20 ms.

use core::future::Future;

use crate::{ErrorType, MediaDevice};

/// Length of one audio frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameDuration {
    /// 10 ms frames.
    Ms10,
    /// 20 ms frames.
    Ms20,
}

impl FrameDuration {
    /// The duration in milliseconds.
    pub fn millis(self) -> u32 {
        match self {
            FrameDuration::Ms10 => 10,
            FrameDuration::Ms20 => 20,
        }
    }
}

/// The PCM format of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioFormat {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u8,
    /// Frame length.
    pub frame: FrameDuration,
}

impl AudioFormat {
    /// Samples (all channels) in one frame.
    pub fn samples_per_frame(&self) -> usize {
        (self.sample_rate as usize * self.frame.millis() as usize / 1000) * self.channels as usize
    }
}

/// A microphone stream.
pub trait AudioCapture: ErrorType {
    /// The format frames are delivered in.
    fn format(&self) -> AudioFormat;

    /// Waits for the next frame and copies it into `frame`, which must hold
    /// [`AudioFormat::samples_per_frame`] samples. Returns the number of samples written.
    fn read_frame(&mut self, frame: &mut [i16])
        -> impl Future<Output = Result<usize, Self::Error>>;
}

/// A speaker stream.
pub trait AudioPlayout: ErrorType {
    /// The format frames are expected in.
    fn format(&self) -> AudioFormat;

    /// Queues one frame for playout, waiting while the device buffer is full.
    fn write_frame(&mut self, frame: &[i16]) -> impl Future<Output = Result<(), Self::Error>>;
}

/// Lists audio devices and opens streams on them.
pub trait AudioDevices: ErrorType {
    /// Capture stream type.
    type Capture: AudioCapture;
    /// Playout stream type.
    type Playout: AudioPlayout;

    /// All capture and playout devices currently present.
    fn list(&self) -> Result<Vec<MediaDevice>, Self::Error>;

    /// Opens a capture stream on `device_id` (`None` = system default), as close to `format` as
    /// the device allows; the stream's [`AudioCapture::format`] says what was granted.
    fn open_capture(
        &self,
        device_id: Option<&str>,
        format: AudioFormat,
    ) -> Result<Self::Capture, Self::Error>;

    /// Opens a playout stream on `device_id` (`None` = system default).
    fn open_playout(
        &self,
        device_id: Option<&str>,
        format: AudioFormat,
    ) -> Result<Self::Playout, Self::Error>;
}

impl<T: AudioCapture + ?Sized> AudioCapture for &mut T {
    fn format(&self) -> AudioFormat {
        T::format(self)
    }
    fn read_frame(
        &mut self,
        frame: &mut [i16],
    ) -> impl Future<Output = Result<usize, Self::Error>> {
        T::read_frame(self, frame)
    }
}

impl<T: AudioPlayout + ?Sized> AudioPlayout for &mut T {
    fn format(&self) -> AudioFormat {
        T::format(self)
    }
    fn write_frame(&mut self, frame: &[i16]) -> impl Future<Output = Result<(), Self::Error>> {
        T::write_frame(self, frame)
    }
}
