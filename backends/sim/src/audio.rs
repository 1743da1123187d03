//! Virtual audio devices implementing the HAL audio traits without sound hardware: tone and
//! silence microphones, a WAV-file microphone, a WAV-file speaker and a null speaker, listed and
//! opened by [`VirtualAudioDevices`]. Owns the device ids and WAV I/O (via `hound`). Does not
//! pace: every `read_frame`/`write_frame` completes at once, so the caller (a virtual-time runtime
//! or a real-time loop) decides when frames happen.
//!
//! | device id | kind | what it does |
//! |---|---|---|
//! | `tone-440` (system default), `tone-<hz>` | capture | a sine at −6 dBFS, any rate/channels |
//! | `silence` | capture | zeros |
//! | `wav:<path>` | capture | a 16-bit PCM WAV file at its own rate/channels; ends with an error of kind `Disconnected` |
//! | `wav-loop:<path>` | capture | the same, looping forever |
//! | `null` (system default) | playout | discards frames |
//! | `wav-out:<path>` | playout | writes a 16-bit PCM WAV, finalized on [`WavPlayout::close`] or drop |
//!
//! `default` (or `None`) opens the system default of its kind.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use genesys_webrtc::media::tone::ToneGenerator;
use genesys_webrtc_hal::{
    AudioCapture, AudioDevices, AudioFormat, AudioPlayout, Error, ErrorKind, ErrorType,
    MediaDevice, MediaKind,
};

/// Frequency of the default tone device.
pub const DEFAULT_TONE_HZ: u32 = 440;
/// Amplitude of the tone devices, as a fraction of full scale (−6 dBFS).
pub const TONE_AMPLITUDE: f32 = 0.5;
/// Highest rate the virtual devices accept.
pub const MAX_RATE: u32 = 192_000;
/// Most channels the virtual devices accept.
pub const MAX_CHANNELS: u8 = 8;

/// Errors of the virtual audio devices.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// No device with this id.
    #[error("no virtual audio device {0:?}")]
    NotFound(String),
    /// The requested or file format cannot be used.
    #[error("unsupported audio format: {0}")]
    FormatUnsupported(&'static str),
    /// The frame buffer has the wrong length for the stream format.
    #[error("frame of {got} samples, the stream format needs {need}")]
    FrameLength {
        /// Samples one frame has.
        need: usize,
        /// Samples given.
        got: usize,
    },
    /// A non-looping WAV capture reached the end of its file.
    #[error("end of the WAV file")]
    EndOfStream,
    /// Reading or writing the WAV file failed.
    #[error("WAV file: {0}")]
    Wav(#[from] hound::Error),
}

impl Error for AudioError {
    fn kind(&self) -> ErrorKind {
        match self {
            AudioError::NotFound(_) => ErrorKind::NotFound,
            AudioError::FormatUnsupported(_) => ErrorKind::FormatUnsupported,
            AudioError::FrameLength { .. } => ErrorKind::InvalidInput,
            AudioError::EndOfStream => ErrorKind::Disconnected,
            AudioError::Wav(hound::Error::IoError(e))
                if e.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorKind::NotFound
            }
            AudioError::Wav(hound::Error::FormatError(_) | hound::Error::Unsupported) => {
                ErrorKind::FormatUnsupported
            }
            AudioError::Wav(_) => ErrorKind::Other,
        }
    }
}

/// Checks that a format can be produced: rate in 8–192 kHz with a whole number of samples per
/// frame, and 1–[`MAX_CHANNELS`] channels.
fn check_format(format: AudioFormat) -> Result<(), AudioError> {
    let rate = format.sample_rate;
    if !(8_000..=MAX_RATE).contains(&rate) {
        return Err(AudioError::FormatUnsupported(
            "sample rate outside 8000..=192000 Hz",
        ));
    }
    if (u64::from(rate) * u64::from(format.frame.millis())) % 1000 != 0 {
        return Err(AudioError::FormatUnsupported(
            "frame is not a whole number of samples at this rate",
        ));
    }
    if format.channels == 0 || format.channels > MAX_CHANNELS {
        return Err(AudioError::FormatUnsupported("channel count outside 1..=8"));
    }
    Ok(())
}

fn frame_slot(frame: &mut [i16], format: AudioFormat) -> Result<&mut [i16], AudioError> {
    let need = format.samples_per_frame();
    let got = frame.len();
    frame
        .get_mut(..need)
        .ok_or(AudioError::FrameLength { need, got })
}

/// A microphone producing a sine tone, phase-continuous across frames. Not paced.
#[derive(Debug, Clone)]
pub struct ToneCapture {
    format: AudioFormat,
    tone: ToneGenerator,
}

impl ToneCapture {
    /// A `freq` Hz tone at −6 dBFS in `format`.
    pub fn new(freq: f32, format: AudioFormat) -> Result<Self, AudioError> {
        check_format(format)?;
        Ok(ToneCapture {
            format,
            tone: ToneGenerator::new(freq, TONE_AMPLITUDE, format.sample_rate),
        })
    }
}

impl ErrorType for ToneCapture {
    type Error = AudioError;
}

impl AudioCapture for ToneCapture {
    fn format(&self) -> AudioFormat {
        self.format
    }

    /// Fills one frame at once (the caller paces).
    async fn read_frame(&mut self, frame: &mut [i16]) -> Result<usize, AudioError> {
        let channels = usize::from(self.format.channels);
        let slot = frame_slot(frame, self.format)?;
        self.tone.fill_interleaved(slot, channels);
        Ok(slot.len())
    }
}

/// A microphone producing digital silence. Not paced.
#[derive(Debug, Clone)]
pub struct SilenceCapture {
    format: AudioFormat,
}

impl SilenceCapture {
    /// Silence in `format`.
    pub fn new(format: AudioFormat) -> Result<Self, AudioError> {
        check_format(format)?;
        Ok(SilenceCapture { format })
    }
}

impl ErrorType for SilenceCapture {
    type Error = AudioError;
}

impl AudioCapture for SilenceCapture {
    fn format(&self) -> AudioFormat {
        self.format
    }

    /// Fills one frame of zeros at once (the caller paces).
    async fn read_frame(&mut self, frame: &mut [i16]) -> Result<usize, AudioError> {
        let slot = frame_slot(frame, self.format)?;
        slot.fill(0);
        Ok(slot.len())
    }
}

/// A microphone reading a 16-bit integer PCM WAV file at the file's rate and channel count (the
/// caller resamples if needed). At the end of the file it either loops or, after a last
/// zero-padded frame, fails with [`AudioError::EndOfStream`] (kind `Disconnected`). Not paced.
pub struct WavCapture {
    reader: hound::WavReader<BufReader<File>>,
    format: AudioFormat,
    looping: bool,
    ended: bool,
}

impl std::fmt::Debug for WavCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavCapture")
            .field("format", &self.format)
            .field("looping", &self.looping)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl WavCapture {
    /// Opens `path`; frames have the duration `requested` asks for and the file's rate and
    /// channels.
    pub fn open(
        path: impl AsRef<Path>,
        requested: AudioFormat,
        looping: bool,
    ) -> Result<Self, AudioError> {
        let reader = hound::WavReader::open(path)?;
        let spec = reader.spec();
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
            return Err(AudioError::FormatUnsupported(
                "WAV capture needs 16-bit integer PCM",
            ));
        }
        let channels = u8::try_from(spec.channels)
            .map_err(|_| AudioError::FormatUnsupported("channel count outside 1..=8"))?;
        let format = AudioFormat {
            sample_rate: spec.sample_rate,
            channels,
            frame: requested.frame,
        };
        check_format(format)?;
        if looping && reader.len() == 0 {
            return Err(AudioError::FormatUnsupported(
                "cannot loop an empty WAV file",
            ));
        }
        Ok(WavCapture {
            reader,
            format,
            looping,
            ended: false,
        })
    }
}

impl ErrorType for WavCapture {
    type Error = AudioError;
}

impl AudioCapture for WavCapture {
    fn format(&self) -> AudioFormat {
        self.format
    }

    /// Reads one frame from the file at once (the caller paces).
    async fn read_frame(&mut self, frame: &mut [i16]) -> Result<usize, AudioError> {
        if self.ended {
            return Err(AudioError::EndOfStream);
        }
        let slot = frame_slot(frame, self.format)?;
        let mut filled = 0;
        let mut just_rewound = false;
        while filled < slot.len() {
            let before = filled;
            for (dst, s) in slot
                .iter_mut()
                .skip(filled)
                .zip(self.reader.samples::<i16>())
            {
                *dst = s?;
                filled += 1;
            }
            if filled == slot.len() {
                break;
            }
            // End of the file. Loop, unless a rewind just gave nothing (no audio data at all).
            let stuck = just_rewound && filled == before;
            if self.looping && !stuck {
                self.reader.seek(0).map_err(hound::Error::IoError)?;
                just_rewound = true;
                continue;
            }
            self.ended = true;
            if filled == 0 {
                return Err(AudioError::EndOfStream);
            }
            // Last, partial frame: pad with silence; the next read reports the end.
            if let Some(rest) = slot.get_mut(filled..) {
                rest.fill(0);
            }
            break;
        }
        Ok(slot.len())
    }
}

/// A speaker writing every frame to a 16-bit PCM WAV file. The header is finalized by
/// [`WavPlayout::close`] (which reports errors) or, failing that, on drop.
pub struct WavPlayout {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    format: AudioFormat,
    path: PathBuf,
}

impl std::fmt::Debug for WavPlayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavPlayout")
            .field("format", &self.format)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WavPlayout {
    /// Creates (or truncates) `path` for frames in `format`.
    pub fn create(path: impl AsRef<Path>, format: AudioFormat) -> Result<Self, AudioError> {
        check_format(format)?;
        let spec = hound::WavSpec {
            channels: u16::from(format.channels),
            sample_rate: format.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path.as_ref(), spec)?;
        Ok(WavPlayout {
            writer: Some(writer),
            format,
            path: path.as_ref().to_path_buf(),
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Finalizes the WAV header and closes the file.
    pub fn close(mut self) -> Result<(), AudioError> {
        match self.writer.take() {
            Some(w) => w.finalize().map_err(AudioError::from),
            None => Ok(()),
        }
    }
}

/// A playout frame must hold exactly one frame of the stream's format.
fn check_frame_len(format: &AudioFormat, got: usize) -> Result<(), AudioError> {
    let need = format.samples_per_frame();
    if got == need {
        Ok(())
    } else {
        Err(AudioError::FrameLength { need, got })
    }
}

impl ErrorType for WavPlayout {
    type Error = AudioError;
}

impl AudioPlayout for WavPlayout {
    fn format(&self) -> AudioFormat {
        self.format
    }

    /// Appends one frame to the file at once (the caller paces).
    async fn write_frame(&mut self, frame: &[i16]) -> Result<(), AudioError> {
        check_frame_len(&self.format, frame.len())?;
        // `writer` is only taken by `close`, which consumes `self`.
        let Some(w) = self.writer.as_mut() else {
            return Err(AudioError::EndOfStream);
        };
        for &s in frame {
            w.write_sample(s)?;
        }
        Ok(())
    }
}

/// A speaker that discards frames (after checking their length) and counts them.
#[derive(Debug, Clone)]
pub struct NullPlayout {
    format: AudioFormat,
    frames: u64,
}

impl NullPlayout {
    /// A null speaker for `format`.
    pub fn new(format: AudioFormat) -> Result<Self, AudioError> {
        check_format(format)?;
        Ok(NullPlayout { format, frames: 0 })
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }
}

impl ErrorType for NullPlayout {
    type Error = AudioError;
}

impl AudioPlayout for NullPlayout {
    fn format(&self) -> AudioFormat {
        self.format
    }

    /// Discards one frame at once (the caller paces).
    async fn write_frame(&mut self, frame: &[i16]) -> Result<(), AudioError> {
        check_frame_len(&self.format, frame.len())?;
        self.frames += 1;
        Ok(())
    }
}

/// Any capture stream [`VirtualAudioDevices`] opens.
#[derive(Debug)]
pub enum VirtualCapture {
    /// A tone device.
    Tone(ToneCapture),
    /// The silence device.
    Silence(SilenceCapture),
    /// A WAV file device.
    Wav(WavCapture),
}

impl ErrorType for VirtualCapture {
    type Error = AudioError;
}

impl AudioCapture for VirtualCapture {
    fn format(&self) -> AudioFormat {
        match self {
            VirtualCapture::Tone(c) => c.format(),
            VirtualCapture::Silence(c) => c.format(),
            VirtualCapture::Wav(c) => c.format(),
        }
    }

    async fn read_frame(&mut self, frame: &mut [i16]) -> Result<usize, AudioError> {
        match self {
            VirtualCapture::Tone(c) => c.read_frame(frame).await,
            VirtualCapture::Silence(c) => c.read_frame(frame).await,
            VirtualCapture::Wav(c) => c.read_frame(frame).await,
        }
    }
}

/// Any playout stream [`VirtualAudioDevices`] opens.
#[derive(Debug)]
pub enum VirtualPlayout {
    /// The null device.
    Null(NullPlayout),
    /// A WAV file device.
    Wav(WavPlayout),
}

impl VirtualPlayout {
    /// Finalizes a WAV file (no-op for the null device).
    pub fn close(self) -> Result<(), AudioError> {
        match self {
            VirtualPlayout::Null(_) => Ok(()),
            VirtualPlayout::Wav(w) => w.close(),
        }
    }
}

impl ErrorType for VirtualPlayout {
    type Error = AudioError;
}

impl AudioPlayout for VirtualPlayout {
    fn format(&self) -> AudioFormat {
        match self {
            VirtualPlayout::Null(p) => p.format(),
            VirtualPlayout::Wav(p) => p.format(),
        }
    }

    async fn write_frame(&mut self, frame: &[i16]) -> Result<(), AudioError> {
        match self {
            VirtualPlayout::Null(p) => p.write_frame(frame).await,
            VirtualPlayout::Wav(p) => p.write_frame(frame).await,
        }
    }
}

/// The virtual device set (see the module docs for the ids). [`AudioDevices::list`] returns the
/// fixed devices plus the WAV devices registered with [`VirtualAudioDevices::with_wav_capture`]
/// and [`VirtualAudioDevices::with_wav_playout`]; opening any well-formed `wav:`/`wav-loop:`/
/// `wav-out:`/`tone-<hz>` id works whether listed or not.
#[derive(Debug, Clone, Default)]
pub struct VirtualAudioDevices {
    extra: Vec<MediaDevice>,
}

impl VirtualAudioDevices {
    /// The fixed devices only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also lists a WAV capture device for `path` (`wav-loop:` if `looping`, else `wav:`).
    pub fn with_wav_capture(mut self, path: impl AsRef<Path>, looping: bool) -> Self {
        let prefix = if looping { "wav-loop:" } else { "wav:" };
        let p = path.as_ref().display().to_string();
        self.extra.push(MediaDevice {
            id: format!("{prefix}{p}"),
            label: format!("WAV file {p}"),
            kind: MediaKind::AudioInput,
            is_system_default: false,
        });
        self
    }

    /// Also lists a WAV playout device writing `path`.
    pub fn with_wav_playout(mut self, path: impl AsRef<Path>) -> Self {
        let p = path.as_ref().display().to_string();
        self.extra.push(MediaDevice {
            id: format!("wav-out:{p}"),
            label: format!("WAV recorder {p}"),
            kind: MediaKind::AudioOutput,
            is_system_default: false,
        });
        self
    }
}

fn device(id: &str, label: &str, kind: MediaKind, is_system_default: bool) -> MediaDevice {
    MediaDevice {
        id: id.to_owned(),
        label: label.to_owned(),
        kind,
        is_system_default,
    }
}

/// Parses `tone-<hz>` (1–20000 Hz).
fn parse_tone(id: &str) -> Option<u32> {
    let hz: u32 = id.strip_prefix("tone-")?.parse().ok()?;
    (1..=20_000).contains(&hz).then_some(hz)
}

impl ErrorType for VirtualAudioDevices {
    type Error = AudioError;
}

impl AudioDevices for VirtualAudioDevices {
    type Capture = VirtualCapture;
    type Playout = VirtualPlayout;

    fn list(&self) -> Result<Vec<MediaDevice>, AudioError> {
        let mut v = vec![
            device("tone-440", "Tone 440 Hz", MediaKind::AudioInput, true),
            device("tone-1000", "Tone 1000 Hz", MediaKind::AudioInput, false),
            device("silence", "Silence", MediaKind::AudioInput, false),
            device("null", "Null output", MediaKind::AudioOutput, true),
        ];
        v.extend(self.extra.iter().cloned());
        Ok(v)
    }

    fn open_capture(
        &self,
        device_id: Option<&str>,
        format: AudioFormat,
    ) -> Result<VirtualCapture, AudioError> {
        let id = match device_id {
            None | Some("default") => "tone-440",
            Some(id) => id,
        };
        if id == "silence" {
            return SilenceCapture::new(format).map(VirtualCapture::Silence);
        }
        if let Some(hz) = parse_tone(id) {
            return ToneCapture::new(hz as f32, format).map(VirtualCapture::Tone);
        }
        if let Some(path) = id.strip_prefix("wav-loop:") {
            return WavCapture::open(path, format, true).map(VirtualCapture::Wav);
        }
        if let Some(path) = id.strip_prefix("wav:") {
            return WavCapture::open(path, format, false).map(VirtualCapture::Wav);
        }
        Err(AudioError::NotFound(id.to_owned()))
    }

    fn open_playout(
        &self,
        device_id: Option<&str>,
        format: AudioFormat,
    ) -> Result<VirtualPlayout, AudioError> {
        let id = match device_id {
            None | Some("default") => "null",
            Some(id) => id,
        };
        if id == "null" {
            return NullPlayout::new(format).map(VirtualPlayout::Null);
        }
        if let Some(path) = id.strip_prefix("wav-out:") {
            return WavPlayout::create(path, format).map(VirtualPlayout::Wav);
        }
        Err(AudioError::NotFound(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use genesys_webrtc::media::goertzel::Goertzel;
    use genesys_webrtc_hal::FrameDuration;

    fn fmt(rate: u32, channels: u8, frame: FrameDuration) -> AudioFormat {
        AudioFormat {
            sample_rate: rate,
            channels,
            frame,
        }
    }

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("genesys-sim-audio-{}-{name}", std::process::id()))
    }

    #[test]
    fn tone_and_silence_capture() {
        let devs = VirtualAudioDevices::new();
        let f = fmt(48_000, 2, FrameDuration::Ms20);
        let mut cap = devs.open_capture(None, f).unwrap();
        assert_eq!(cap.format(), f);
        let mut buf = vec![0i16; 1920 + 10];
        assert_eq!(block_on(cap.read_frame(&mut buf)).unwrap(), 1920);
        let left: Vec<i16> = buf[..1920].iter().step_by(2).copied().collect();
        assert!(Goertzel::detect(&left, 440.0, 48_000));
        assert!(!Goertzel::detect(&left, 1000.0, 48_000));
        let err = block_on(cap.read_frame(&mut [0; 100])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        let mut k = devs
            .open_capture(Some("tone-1000"), fmt(8000, 1, FrameDuration::Ms10))
            .unwrap();
        let mut b = [0i16; 80];
        block_on(k.read_frame(&mut b)).unwrap();
        assert!(Goertzel::detect(&b, 1000.0, 8000));

        let mut s = devs.open_capture(Some("silence"), f).unwrap();
        let mut b = vec![1i16; 1920];
        block_on(s.read_frame(&mut b)).unwrap();
        assert!(b.iter().all(|&x| x == 0));
    }

    #[test]
    fn errors_have_kinds() {
        let devs = VirtualAudioDevices::new();
        let f = fmt(16_000, 1, FrameDuration::Ms20);
        let e = devs.open_capture(Some("mic-7"), f).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            devs.open_playout(Some("hdmi"), f).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            devs.open_capture(Some("tone-0"), f).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        for bad in [
            fmt(7_000, 1, FrameDuration::Ms20),
            fmt(22_050, 1, FrameDuration::Ms10),
        ] {
            let e = devs.open_capture(Some("silence"), bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::FormatUnsupported);
        }
        let e = devs
            .open_playout(None, fmt(48_000, 0, FrameDuration::Ms20))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FormatUnsupported);
        let e = devs
            .open_capture(Some("wav:/nonexistent/x.wav"), f)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        // A file that is not a WAV.
        let p = temp_path("garbage.wav");
        std::fs::write(&p, b"definitely not RIFF").unwrap();
        let e = devs
            .open_capture(Some(&format!("wav:{}", p.display())), f)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FormatUnsupported);
        std::fs::remove_file(&p).ok();
    }

    #[test]
    fn listing() {
        let devs = VirtualAudioDevices::new()
            .with_wav_capture("/tmp/a.wav", false)
            .with_wav_playout("/tmp/out.wav");
        let list = devs.list().unwrap();
        let ids: Vec<&str> = list.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "tone-440",
                "tone-1000",
                "silence",
                "null",
                "wav:/tmp/a.wav",
                "wav-out:/tmp/out.wav"
            ]
        );
        let defaults: Vec<&str> = list
            .iter()
            .filter(|d| d.is_system_default)
            .map(|d| d.id.as_str())
            .collect();
        assert_eq!(defaults, ["tone-440", "null"]);
    }

    #[test]
    fn wav_round_trip_end_and_loop() {
        let devs = VirtualAudioDevices::new();
        let path = temp_path("rt.wav");
        let f = fmt(16_000, 1, FrameDuration::Ms20);
        // Record 5 frames (100 ms) of tone; a short frame is refused.
        let mut tone = devs.open_capture(Some("tone-440"), f).unwrap();
        let mut out = devs
            .open_playout(Some(&format!("wav-out:{}", path.display())), f)
            .unwrap();
        let mut frame = vec![0i16; 320];
        let mut recorded = Vec::new();
        for _ in 0..5 {
            block_on(tone.read_frame(&mut frame)).unwrap();
            block_on(out.write_frame(&frame)).unwrap();
            recorded.extend_from_slice(&frame);
        }
        let e = block_on(out.write_frame(&frame[..100])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        out.close().unwrap();

        // Play it back with 10 ms frames: 10 frames, then the end.
        let want = fmt(48_000, 2, FrameDuration::Ms10);
        let mut cap = devs
            .open_capture(Some(&format!("wav:{}", path.display())), want)
            .unwrap();
        assert_eq!(cap.format(), fmt(16_000, 1, FrameDuration::Ms10));
        let mut got = Vec::new();
        let mut b = vec![0i16; 160];
        for _ in 0..10 {
            block_on(cap.read_frame(&mut b)).unwrap();
            got.extend_from_slice(&b);
        }
        assert_eq!(got, recorded);
        let e = block_on(cap.read_frame(&mut b)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Disconnected);
        assert_eq!(
            block_on(cap.read_frame(&mut b)).unwrap_err().kind(),
            ErrorKind::Disconnected
        );

        // A looping device wraps around (12 frames over a 5-frame file).
        let mut lp = devs
            .open_capture(Some(&format!("wav-loop:{}", path.display())), f)
            .unwrap();
        let mut b = vec![0i16; 320];
        let mut looped = Vec::new();
        for _ in 0..12 {
            block_on(lp.read_frame(&mut b)).unwrap();
            looped.extend_from_slice(&b);
        }
        assert_eq!(&looped[..1600], &recorded[..]);
        assert_eq!(&looped[1600..3200], &recorded[..]);
        assert_eq!(&looped[3200..], &recorded[..640]);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn wav_partial_last_frame_is_padded() {
        let path = temp_path("partial.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..250i16 {
            w.write_sample(i + 1).unwrap();
        }
        w.finalize().unwrap();
        let mut cap = WavCapture::open(&path, fmt(8000, 1, FrameDuration::Ms20), false).unwrap();
        let mut b = vec![0i16; 160];
        block_on(cap.read_frame(&mut b)).unwrap();
        assert_eq!(b[159], 160);
        block_on(cap.read_frame(&mut b)).unwrap();
        assert_eq!(b[89], 250);
        assert!(b[90..].iter().all(|&s| s == 0));
        assert!(block_on(cap.read_frame(&mut b)).is_err());
        // Looping an empty file is refused rather than spinning.
        let empty = temp_path("empty.wav");
        hound::WavWriter::create(&empty, spec)
            .unwrap()
            .finalize()
            .unwrap();
        let e = WavCapture::open(&empty, fmt(8000, 1, FrameDuration::Ms20), true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FormatUnsupported);
        let mut once = WavCapture::open(&empty, fmt(8000, 1, FrameDuration::Ms20), false).unwrap();
        assert_eq!(
            block_on(once.read_frame(&mut b)).unwrap_err().kind(),
            ErrorKind::Disconnected
        );
        std::fs::remove_file(&path).ok();
        std::fs::remove_file(&empty).ok();
    }

    #[test]
    fn wav_playout_is_finalized_on_drop() {
        let path = temp_path("drop.wav");
        {
            let mut p = WavPlayout::create(&path, fmt(8000, 1, FrameDuration::Ms20)).unwrap();
            block_on(p.write_frame(&[7; 160])).unwrap();
            block_on(p.write_frame(&[8; 160])).unwrap();
        }
        let r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.len(), 320);
        assert_eq!(r.spec().sample_rate, 8000);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn null_playout_counts() {
        let devs = VirtualAudioDevices::new();
        let f = fmt(48_000, 1, FrameDuration::Ms10);
        let mut p = NullPlayout::new(f).unwrap();
        block_on(p.write_frame(&[0; 480])).unwrap();
        assert_eq!(p.frames_written(), 1);
        assert!(block_on(p.write_frame(&[0; 479])).is_err());
        let mut d = devs.open_playout(Some("default"), f).unwrap();
        block_on(d.write_frame(&[0; 480])).unwrap();
        d.close().unwrap();
    }
}
