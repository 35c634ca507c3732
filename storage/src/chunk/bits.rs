//! Bit-level writer/reader (MSB first) and LEB128 varints used by the chunk
//! encoding and the file sections.

/// Appends bits, most significant first, to a byte vector. Bits gather in
/// a 64-bit accumulator that is stored eight bytes at a time.
#[derive(Debug, Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    /// The last `pending` bits written, not yet in `buf` (low bits).
    acc: u64,
    /// Bits in `acc`, always < 64.
    pending: u32,
}

impl BitWriter {
    /// An empty bit stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v` (`n <= 64`).
    #[inline]
    pub fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        let total = self.pending + n;
        if total < 64 {
            self.acc = (self.acc << n) | v;
            self.pending = total;
            return;
        }
        // Fill the accumulator to 64 bits and store it; keep the rest of `v`.
        let rest = total - 64; // < 64, as pending < 64 and n <= 64
        let head = v >> rest;
        let full = if self.pending == 0 { head } else { (self.acc << (64 - self.pending)) | head };
        self.buf.extend_from_slice(&full.to_be_bytes());
        self.acc = if rest == 0 { 0 } else { v & ((1u64 << rest) - 1) };
        self.pending = rest;
    }

    /// The written bytes, the last one zero-padded.
    pub fn into_bytes(mut self) -> Vec<u8> {
        if self.pending > 0 {
            let bytes = self.pending.div_ceil(8) as usize;
            let aligned = self.acc << (bytes as u32 * 8 - self.pending);
            self.buf.extend_from_slice(&aligned.to_be_bytes()[8 - bytes..]);
        }
        self.buf
    }
}

/// Reads bits written by [`BitWriter`].
#[derive(Debug)]
pub struct BitReader<'a> {
    buf: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first (most significant) bit of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The next bit; `None` past the end.
    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.buf.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Reads `n <= 64` bits into the low bits of the result.
    #[inline]
    pub fn read_bits(&mut self, mut n: u32) -> Option<u64> {
        debug_assert!(n <= 64);
        let mut v = 0u64;
        while n > 0 {
            let byte = *self.buf.get(self.pos / 8)?;
            let used = (self.pos % 8) as u32;
            let avail = 8 - used;
            let take = n.min(avail);
            let bits = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            v = (v << take) | bits;
            self.pos += take as usize;
            n -= take;
        }
        Some(v)
    }
}

/// A faster reader of bits written by [`BitWriter`], for the decoders' hot
/// loops: each read loads the 8 bytes at the current byte big-endian at once
/// and shifts out the bits wanted (no loop over bytes, no branch per bit).
///
/// Reads past the end return zero bits instead of failing; the decoder
/// checks [`FastBitReader::overrun`] once, after its loop (a stream that
/// ends early always overruns: the decoder follows the same path as on the
/// whole stream up to its first read past the end, and the position only grows).
#[derive(Debug, Clone)]
pub struct FastBitReader<'a> {
    buf: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> FastBitReader<'a> {
    /// The most bits one [`FastBitReader::peek`] returns exactly.
    pub const PEEK_BITS: u32 = 57;

    /// A reader at the first (most significant) bit of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The next bits, most significant first: the top [`Self::PEEK_BITS`]
    /// (at least) are the stream's (zero past its end), the rest zero.
    #[inline(always)]
    pub fn peek(&self) -> u64 {
        let byte = self.pos >> 3;
        let word = match self.buf.get(byte..byte.wrapping_add(8)) {
            Some(b) => <[u8; 8]>::try_from(b).map_or(0, u64::from_be_bytes),
            None => self.load_tail(byte),
        };
        word << (self.pos & 7)
    }

    /// The bytes from `byte` to the end of the buffer, zero-padded to 8.
    #[cold]
    #[inline(never)]
    fn load_tail(&self, byte: usize) -> u64 {
        let mut w = [0u8; 8];
        if let Some(rest) = self.buf.get(byte..) {
            let n = rest.len().min(8);
            w[..n].copy_from_slice(&rest[..n]);
        }
        u64::from_be_bytes(w)
    }

    /// Skips `n` bits.
    #[inline(always)]
    pub fn skip(&mut self, n: u32) {
        self.pos += n as usize;
    }

    /// Reads `n <= 57` bits into the low bits of the result (0 for `n == 0`).
    #[inline(always)]
    pub fn read(&mut self, n: u32) -> u64 {
        debug_assert!(n <= Self::PEEK_BITS);
        // Two shifts, so that n == 0 shifts by 64 in total without overflow.
        let v = (self.peek() >> 1) >> (63 - n);
        self.pos += n as usize;
        v
    }

    /// Reads `n <= 64` bits into the low bits of the result.
    #[inline(always)]
    pub fn read_long(&mut self, n: u32) -> u64 {
        debug_assert!(n <= 64);
        if n <= Self::PEEK_BITS {
            self.read(n)
        } else {
            let hi = self.read(n - 32);
            (hi << 32) | self.read(32)
        }
    }

    /// Whether a read went past the end of the stream.
    #[inline]
    pub fn overrun(&self) -> bool {
        self.pos > self.buf.len().saturating_mul(8)
    }

    /// The position in bits.
    pub fn position(&self) -> usize {
        self.pos
    }
}

pub use strata_common::varint::{Cursor, put_uvarint, put_varint, unzigzag, zigzag};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(items in prop::collection::vec((any::<u64>(), 0u32..=64), 0..50)) {
            let mut w = BitWriter::new();
            for &(v, n) in &items {
                w.write_bits(v, n);
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            for &(v, n) in &items {
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                prop_assert_eq!(r.read_bits(n), Some(v & mask));
            }
        }
    }

    proptest! {
        #[test]
        fn fast_reader_reads_what_the_slow_one_does(items in prop::collection::vec((any::<u64>(), 0u32..=64), 0..50),
                                                    cut in 0usize..8) {
            let mut w = BitWriter::new();
            for &(v, n) in &items {
                w.write_bits(v, n);
            }
            let mut bytes = w.into_bytes();
            bytes.truncate(bytes.len().saturating_sub(cut));
            let (mut slow, mut fast) = (BitReader::new(&bytes), FastBitReader::new(&bytes));
            for &(_, n) in &items {
                let want = slow.read_bits(n);
                let got = fast.read_long(n);
                match want {
                    Some(want) => {
                        prop_assert_eq!(got, want);
                        prop_assert!(!fast.overrun());
                    }
                    None => {
                        prop_assert!(fast.overrun());
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn fast_reader_pads_with_zeros_and_reports_the_overrun() {
        let mut r = FastBitReader::new(&[0b1010_0000]);
        assert_eq!(r.read(3), 0b101);
        assert_eq!(r.read(0), 0);
        assert_eq!(r.read(5), 0);
        assert!(!r.overrun());
        assert_eq!(r.read_long(64), 0);
        assert!(r.overrun());
        assert_eq!(FastBitReader::new(&[]).peek(), 0);
    }

    #[test]
    fn bit_reader_stops_at_end() {
        let mut r = BitReader::new(&[0b1010_0000]);
        assert_eq!(r.read_bits(3), Some(0b101));
        assert_eq!(r.read_bits(5), Some(0));
        assert_eq!(r.read_bit(), None);
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;

    /// The bit-at-a-time definition of the stream [`BitWriter`] writes.
    fn reference(fields: &[(u64, u32)]) -> Vec<u8> {
        let mut bits = Vec::new();
        for &(v, n) in fields {
            bits.extend((0..n).rev().map(|i| (v >> i) & 1 == 1));
        }
        bits.chunks(8).map(|c| c.iter().enumerate().fold(0u8, |b, (i, &bit)| b | (u8::from(bit) << (7 - i)))).collect()
    }

    proptest::proptest! {
        #[test]
        fn writes_the_same_bytes_as_one_bit_at_a_time(
            fields in proptest::collection::vec((proptest::num::u64::ANY, 0u32..=64), 0..200),
        ) {
            let mut w = BitWriter::new();
            for &(v, n) in &fields {
                w.write_bits(v, n);
            }
            proptest::prop_assert_eq!(w.into_bytes(), reference(&fields));
        }
    }
}
