//! Bit-level writer/reader (MSB first) and LEB128 varints used by the chunk
//! encoding and the file sections.

/// Appends bits, most significant first, to a byte vector.
#[derive(Debug, Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    /// Free bits left in the last byte of `buf` (0 = start a new byte).
    free: u32,
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
    pub fn write_bits(&mut self, v: u64, mut n: u32) {
        debug_assert!(n <= 64);
        while n > 0 {
            if self.free == 0 {
                self.buf.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            // The `take` bits of `v` just below bit `n`.
            let bits = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.buf.len() - 1; // non-empty: pushed above when free == 0
            self.buf[last] |= bits << (self.free - take);
            self.free -= take;
            n -= take;
        }
    }

    /// The written bytes, the last one zero-padded.
    pub fn into_bytes(self) -> Vec<u8> {
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

    #[test]
    fn bit_reader_stops_at_end() {
        let mut r = BitReader::new(&[0b1010_0000]);
        assert_eq!(r.read_bits(3), Some(0b101));
        assert_eq!(r.read_bits(5), Some(0));
        assert_eq!(r.read_bit(), None);
    }
}
