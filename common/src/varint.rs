//! LEB128 varints, zigzag encoding and a bounds-checked byte cursor: the
//! primitives of every Strata byte format (log records, data files).

/// Appends `v` as an unsigned LEB128 varint (minimal encoding).
#[inline]
pub fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends `v` zigzag-encoded as an unsigned varint.
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, zigzag(v));
}

/// Maps a signed value to an unsigned one with small magnitudes small (0, -1, 1, -2, … → 0, 1, 2, 3, …).
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A forward cursor over a byte slice; every read returns `None` past the end
/// (or on a malformed varint), never panics.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    /// The offset of the next byte to read.
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// A cursor at byte `pos` of `buf`.
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos }
    }

    /// The whole underlying slice.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// An unsigned LEB128 varint.
    pub fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// A zigzag-encoded signed varint.
    pub fn varint(&mut self) -> Option<i64> {
        self.uvarint().map(unzigzag)
    }

    /// An unsigned varint that must fit a `usize` (a length or count).
    pub fn uvarint_usize(&mut self) -> Option<usize> {
        usize::try_from(self.uvarint()?).ok()
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// A varint length followed by that many bytes.
    pub fn len_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = self.uvarint_usize()?;
        self.bytes(n)
    }

    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.len_prefixed()?).ok()
    }

    /// A little-endian `u64`.
    pub fn u64_le(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    /// A little-endian `u32`.
    pub fn u32_le(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_round_trip(vs in prop::collection::vec(any::<i64>(), 0..50)) {
            let mut buf = Vec::new();
            for &v in &vs {
                put_varint(&mut buf, v);
                put_uvarint(&mut buf, v as u64);
            }
            let mut c = Cursor::new(&buf);
            for &v in &vs {
                prop_assert_eq!(c.varint(), Some(v));
                prop_assert_eq!(c.uvarint(), Some(v as u64));
            }
            prop_assert_eq!(c.uvarint(), None);
        }
    }

    #[test]
    fn truncated_and_overlong_input_is_none() {
        assert_eq!(Cursor::new(&[0x80]).uvarint(), None);
        assert_eq!(Cursor::new(&[0xff; 11]).uvarint(), None);
        assert_eq!(Cursor::new(&[3, b'a']).str(), None);
        assert_eq!(Cursor::new(&[2, 0xff, 0xfe]).str(), None);
    }
}
