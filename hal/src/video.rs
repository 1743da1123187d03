//! Camera and screen capture: raw frames with format, size and timestamp.

use core::future::Future;
use std::time::Instant;

use crate::{ErrorType, MediaDevice};

/// Pixel layout of a raw frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelFormat {
    /// Planar YUV 4:2:0 (I420).
    I420,
    /// Packed YUV 4:2:2 (YUYV).
    Yuyv,
    /// Packed 8-bit BGRA.
    Bgra,
    /// Motion JPEG (one JPEG per frame).
    Mjpeg,
}

/// Format of a video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoFormat {
    /// Pixel layout.
    pub pixel_format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second the source aims for.
    pub frame_rate: u32,
}

/// What a captured frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFrameInfo {
    /// Bytes written into the caller's buffer.
    pub len: usize,
    /// Format of this frame (may change between frames, e.g. on resolution change).
    pub format: VideoFormat,
    /// Capture time on the platform clock.
    pub captured_at: Instant,
}

/// A camera.
pub trait Camera: ErrorType {
    /// Cameras present.
    fn list(&self) -> Result<Vec<MediaDevice>, Self::Error>;
    /// Starts streaming from `device_id` (`None` = system default) as close to `format` as possible.
    fn start(
        &mut self,
        device_id: Option<&str>,
        format: VideoFormat,
    ) -> Result<VideoFormat, Self::Error>;
    /// Waits for the next frame and writes it into `buf` (cleared first).
    fn read_frame(
        &mut self,
        buf: &mut Vec<u8>,
    ) -> impl Future<Output = Result<VideoFrameInfo, Self::Error>>;
    /// Stops streaming.
    fn stop(&mut self) -> Result<(), Self::Error>;
}

/// A screen (or window) capture source.
pub trait ScreenCapture: ErrorType {
    /// Starts capturing, as close to `format` as possible.
    fn start(&mut self, format: VideoFormat) -> Result<VideoFormat, Self::Error>;
    /// Waits for the next frame and writes it into `buf` (cleared first).
    fn read_frame(
        &mut self,
        buf: &mut Vec<u8>,
    ) -> impl Future<Output = Result<VideoFrameInfo, Self::Error>>;
    /// Stops capturing.
    fn stop(&mut self) -> Result<(), Self::Error>;
}
