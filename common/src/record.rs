//! The log record: a batch of series for one tenant and one partition.
//!
//! Written by the push endpoint, read by ingester shards; the same bytes go to
//! the embedded log and to Kafka. Layout (little-endian, `uv` = unsigned LEB128
//! varint), documented in `storage/docs/format/log-record.md`:
//!
//! ```text
//! u8  version (= 1)
//! uv  tenant length, tenant bytes (UTF-8)
//! uv  series count
//! per series:
//!   uv  label count
//!   per label: uv name length, name, uv value length, value   (sorted by name)
//!   uv  sample count
//!   per sample: i64 timestamp (ms), f64 value (IEEE-754 bits)
//! ```
//!
//! [`RecordView`] decodes without copying: labels are `&str` into the payload.

use crate::error::{Error, Result};
use crate::sample::Sample;
use crate::tenant::TenantId;

/// Version byte of the current record layout.
pub const RECORD_VERSION: u8 = 1;

/// Appends one record to `out`, built series by series.
pub struct RecordBuilder {
    buf: Vec<u8>,
    count_pos: usize,
    series: u64,
}

impl RecordBuilder {
    pub fn new(tenant: &TenantId) -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.push(RECORD_VERSION);
        put_uv(&mut buf, tenant.as_str().len() as u64);
        buf.extend_from_slice(tenant.as_str().as_bytes());
        let count_pos = buf.len();
        // The series count is patched in `finish`; reserve a fixed 5-byte varint.
        buf.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x00]);
        Self { buf, count_pos, series: 0 }
    }

    /// Adds one series; `labels` must be sorted by name with unique names.
    pub fn push_series<'a>(&mut self, labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>, samples: &[Sample]) {
        put_uv(&mut self.buf, labels.len() as u64);
        for (n, v) in labels {
            put_uv(&mut self.buf, n.len() as u64);
            self.buf.extend_from_slice(n.as_bytes());
            put_uv(&mut self.buf, v.len() as u64);
            self.buf.extend_from_slice(v.as_bytes());
        }
        put_uv(&mut self.buf, samples.len() as u64);
        self.buf.reserve(samples.len() * 16);
        for s in samples {
            self.buf.extend_from_slice(&s.t.to_le_bytes());
            self.buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
        }
        self.series += 1;
    }

    pub fn series_count(&self) -> u64 {
        self.series
    }

    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// The encoded record.
    pub fn finish(mut self) -> Vec<u8> {
        let n = self.series;
        let slot = &mut self.buf[self.count_pos..self.count_pos + 5];
        for (i, b) in slot.iter_mut().enumerate() {
            let part = ((n >> (7 * i)) & 0x7f) as u8;
            *b = if i < 4 { part | 0x80 } else { part };
        }
        self.buf
    }
}

fn put_uv(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A zero-copy view of one record.
#[derive(Debug)]
pub struct RecordView<'a> {
    pub tenant: &'a str,
    series_count: u64,
    body: &'a [u8],
}

/// One series of a record: label pairs and samples, borrowed.
#[derive(Debug)]
pub struct SeriesView<'a> {
    /// Sorted (name, value) pairs.
    pub labels: Vec<(&'a str, &'a str)>,
    samples: &'a [u8],
}

impl<'a> SeriesView<'a> {
    pub fn sample_count(&self) -> usize {
        self.samples.len() / 16
    }

    pub fn samples(&self) -> impl ExactSizeIterator<Item = Sample> + 'a {
        self.samples.chunks_exact(16).map(|c| {
            let (t, v) = c.split_at(8);
            Sample::new(
                i64::from_le_bytes(t.try_into().unwrap_or_default()),
                f64::from_bits(u64::from_le_bytes(v.try_into().unwrap_or_default())),
            )
        })
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn uv(&mut self) -> Option<u64> {
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

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = usize::try_from(self.uv()?).ok()?;
        std::str::from_utf8(self.bytes(n)?).ok()
    }
}

impl<'a> RecordView<'a> {
    /// Parses the header; `partition`/`offset` only label errors.
    pub fn parse(payload: &'a [u8], partition: u32, offset: u64) -> Result<Self> {
        let corrupt = |reason: &str| Error::CorruptRecord { partition, offset, reason: reason.to_string() };
        let version = *payload.first().ok_or_else(|| corrupt("empty record"))?;
        if version != RECORD_VERSION {
            return Err(Error::UnsupportedRecordVersion { partition, offset, version });
        }
        let mut c = Cursor { buf: payload, pos: 1 };
        let tenant = c.str().ok_or_else(|| corrupt("bad tenant"))?;
        let series_count = c.uv().ok_or_else(|| corrupt("bad series count"))?;
        Ok(Self { tenant, series_count, body: &payload[c.pos..] })
    }

    pub fn series_count(&self) -> u64 {
        self.series_count
    }

    /// Iterates the series; a truncated or malformed body yields an error item.
    pub fn series(&self) -> impl Iterator<Item = Result<SeriesView<'a>, &'static str>> + 'a {
        let mut c = Cursor { buf: self.body, pos: 0 };
        let mut left = self.series_count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let r = (|| {
                let n = usize::try_from(c.uv()?).ok()?;
                let mut labels = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    labels.push((c.str()?, c.str()?));
                }
                let ns = usize::try_from(c.uv()?).ok()?;
                let samples = c.bytes(ns.checked_mul(16)?)?;
                Some(SeriesView { labels, samples })
            })();
            if r.is_none() {
                left = 0;
            }
            Some(r.ok_or("truncated or malformed series"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let t = TenantId::new("acme").unwrap();
        let mut b = RecordBuilder::new(&t);
        b.push_series([("__name__", "up"), ("job", "a")].into_iter(), &[Sample::new(1, 1.5), Sample::new(2, f64::NAN)]);
        b.push_series([("__name__", "x")].into_iter(), &[]);
        let bytes = b.finish();
        let r = RecordView::parse(&bytes, 0, 0).unwrap();
        assert_eq!(r.tenant, "acme");
        let s: Vec<_> = r.series().map(|s| s.unwrap()).collect();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels, vec![("__name__", "up"), ("job", "a")]);
        let samples: Vec<_> = s[0].samples().collect();
        assert_eq!(samples[0], Sample::new(1, 1.5));
        assert!(samples[1].v.is_nan());
        assert_eq!(s[1].sample_count(), 0);
    }

    #[test]
    fn rejects_unknown_version_and_truncation() {
        assert!(matches!(RecordView::parse(&[9], 1, 2), Err(Error::UnsupportedRecordVersion { version: 9, .. })));
        let t = TenantId::new("a").unwrap();
        let mut b = RecordBuilder::new(&t);
        b.push_series([("a", "b")].into_iter(), &[Sample::new(1, 1.0)]);
        let bytes = b.finish();
        let r = RecordView::parse(&bytes[..bytes.len() - 3], 0, 0).unwrap();
        assert!(r.series().any(|s| s.is_err()));
    }

    proptest! {
        #[test]
        fn prop_round_trip(series in prop::collection::vec(
            (prop::collection::btree_map("[a-z_]{1,8}", "[ -~]{1,12}", 1..6),
             prop::collection::vec((any::<i64>(), any::<f64>()), 0..20)), 0..20)) {
            let t = TenantId::new("p").unwrap();
            let mut b = RecordBuilder::new(&t);
            for (labels, samples) in &series {
                let samples: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
                b.push_series(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())), &samples);
            }
            let bytes = b.finish();
            let r = RecordView::parse(&bytes, 0, 0).unwrap();
            prop_assert_eq!(r.series_count() as usize, series.len());
            for (view, (labels, samples)) in r.series().zip(&series) {
                let view = view.unwrap();
                let want: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                prop_assert_eq!(&view.labels, &want);
                let got: Vec<(i64, u64)> = view.samples().map(|s| (s.t, s.v.to_bits())).collect();
                let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
                prop_assert_eq!(got, want);
            }
        }
    }
}
