//! G.711 PCMU (µ-law) and PCMA (A-law): 16-bit linear PCM ⇄ 8-bit codes, 8 kHz, one byte per
//! sample. Owns only the sample conversion, written table-free after the ITU-T G.711 / G.191
//! reference algorithms. Does not packetize, resample or know about RTP beyond the payload type.
//!
//! Every byte is a valid code, so decoding never fails; encoding clips to the codec's range.
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

/// The two G.711 companding laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// µ-law (PCMU, static RTP payload type 0), used in North America and Japan.
    Mu,
    /// A-law (PCMA, static RTP payload type 8), used elsewhere.
    A,
}

impl G711Law {
    /// The static RTP payload type (RFC 3551): 0 for PCMU, 8 for PCMA.
    pub fn payload_type(self) -> u8 {
        match self {
            G711Law::Mu => 0,
            G711Law::A => 8,
        }
    }

    /// The law for a static payload type, if it is 0 or 8.
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(G711Law::Mu),
            8 => Some(G711Law::A),
            _ => None,
        }
    }

    /// The SDP encoding name (`PCMU` or `PCMA`).
    pub fn encoding_name(self) -> &'static str {
        match self {
            G711Law::Mu => "PCMU",
            G711Law::A => "PCMA",
        }
    }

    /// The sample (and RTP clock) rate, always 8000 Hz.
    pub const SAMPLE_RATE: u32 = 8_000;

    /// Appends the codes for `pcm` to `out` (one byte per sample).
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        match self {
            G711Law::Mu => encode_ulaw(pcm, out),
            G711Law::A => encode_alaw(pcm, out),
        }
    }

    /// Appends the samples for `codes` to `out` (one sample per byte).
    pub fn decode(self, codes: &[u8], out: &mut Vec<i16>) {
        match self {
            G711Law::Mu => decode_ulaw(codes, out),
            G711Law::A => decode_alaw(codes, out),
        }
    }
}

/// µ-law bias added before finding the segment.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can represent before the bias is added.
const ULAW_CLIP: i32 = 32_635;

/// Encodes one sample to µ-law (G.711 `linear2ulaw`, 16-bit input).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign: i32 = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
    // pcm is in 0x84..=0x7FFF: its highest set bit is bit 7..=14, the segment is that minus 7.
    let highest_bit = 31 - pcm.leading_zeros() as i32;
    let exponent = highest_bit - 7;
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    // The value fits in 8 bits by construction (sign 0x80, exponent ≤ 7, mantissa ≤ 15).
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Decodes one µ-law code (G.711 `ulaw2linear`).
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = i32::from(!code);
    let mut t = ((u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    let v = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    // |v| ≤ 32124, always in i16 range.
    v as i16
}

/// Encodes one sample to A-law (G.711 `linear2alaw`, 16-bit input).
pub fn linear_to_alaw(sample: i16) -> u8 {
    // A-law works on 13 bits.
    let mut pcm = i32::from(sample) >> 3;
    let mask: i32 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    // pcm is in 0..=0xFFF. Segment = number of bits above the 5 low ones (0..=7).
    let bits = 32 - pcm.leading_zeros() as i32;
    let seg = (bits - 5).max(0);
    let mantissa = if seg < 2 {
        (pcm >> 1) & 0x0F
    } else {
        (pcm >> seg) & 0x0F
    };
    (((seg << 4) | mantissa) ^ mask) as u8
}

/// Decodes one A-law code (G.711 `alaw2linear`).
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = i32::from(code ^ 0x55);
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    // |t| ≤ 32256, always in i16 range.
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

/// Appends the µ-law codes for `pcm` to `out`.
pub fn encode_ulaw(pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&s| linear_to_ulaw(s)));
}

/// Appends the samples for µ-law `codes` to `out`.
pub fn decode_ulaw(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| ulaw_to_linear(c)));
}

/// Appends the A-law codes for `pcm` to `out`.
pub fn encode_alaw(pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&s| linear_to_alaw(s)));
}

/// Appends the samples for A-law `codes` to `out`.
pub fn decode_alaw(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| alaw_to_linear(c)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        // Extremes.
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0x80), 32_124);
        assert_eq!(ulaw_to_linear(0x00), -32_124);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(alaw_to_linear(0xAA), 32_256);
        assert_eq!(alaw_to_linear(0x2A), -32_256);
        // Sample from the Sun reference implementation: 1000 → µ 0xCE, A 0xFA.
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(G711Law::Mu.payload_type(), 0);
        assert_eq!(G711Law::A.payload_type(), 8);
        assert_eq!(G711Law::from_payload_type(8), Some(G711Law::A));
        assert_eq!(G711Law::from_payload_type(9), None);
    }

    #[test]
    fn round_trip_error_is_bounded() {
        let mut worst_mu = 0i32;
        let mut worst_a = 0i32;
        for x in i16::MIN..=i16::MAX {
            let xi = i32::from(x);
            let mu = i32::from(ulaw_to_linear(linear_to_ulaw(x)));
            let a = i32::from(alaw_to_linear(linear_to_alaw(x)));
            let (emu, ea) = ((mu - xi).abs(), (a - xi).abs());
            // Half a quantisation step: about 1/32 of the magnitude, plus the small-signal floor
            // (µ-law: 4 near zero after the bias; A-law: 16 in its linear segment) and clipping
            // at the top of the range.
            assert!(emu <= (xi.abs() + ULAW_BIAS) / 32 + 1, "µ-law {x} → {mu}");
            assert!(ea <= (xi.abs() / 32).max(16), "A-law {x} → {a}");
            worst_mu = worst_mu.max(emu);
            worst_a = worst_a.max(ea);
        }
        assert!(worst_mu <= 1024 && worst_a <= 1024);
        // Sign is preserved (no zero-crossing flips beyond the ±8 A-law floor).
        for x in [-30_000i16, -1000, -100, 100, 1000, 30_000] {
            assert_eq!(ulaw_to_linear(linear_to_ulaw(x)).signum(), x.signum());
            assert_eq!(alaw_to_linear(linear_to_alaw(x)).signum(), x.signum());
        }
    }

    #[test]
    fn all_codes_are_stable() {
        for c in 0..=255u8 {
            let v = ulaw_to_linear(c);
            let c2 = linear_to_ulaw(v);
            // 0x7F is µ-law's "negative zero": it decodes to 0, which encodes as 0xFF.
            if c != 0x7F {
                assert_eq!(c2, c, "µ-law code {c:#04x}");
            }
            assert_eq!(ulaw_to_linear(c2), v);

            let v = alaw_to_linear(c);
            assert_eq!(linear_to_alaw(v), c, "A-law code {c:#04x}");
        }
    }

    #[test]
    fn monotonic_decoding() {
        // Decoded values, sorted by the signed order of the codes, must be strictly increasing.
        let mut mu: Vec<i16> = (0..=255u8).map(ulaw_to_linear).collect();
        mu.sort_unstable();
        mu.dedup();
        assert_eq!(mu.len(), 255); // two zeros
        let mut a: Vec<i16> = (0..=255u8).map(alaw_to_linear).collect();
        a.sort_unstable();
        a.dedup();
        assert_eq!(a.len(), 256);
    }

    #[test]
    fn slice_helpers_append() {
        let pcm = [0i16, 1000, -1000, i16::MAX, i16::MIN];
        for law in [G711Law::Mu, G711Law::A] {
            let mut codes = vec![0xAB];
            law.encode(&pcm, &mut codes);
            assert_eq!(codes.len(), 6);
            let mut out = vec![7];
            law.decode(&codes[1..], &mut out);
            assert_eq!(out.len(), 6);
            assert_eq!(out[0], 7);
        }
    }
}
