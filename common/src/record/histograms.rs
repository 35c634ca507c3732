//! The native-histogram section of version 4 records: per series its label
//! pairs in full (the canonical encoding) and its histogram samples, each a
//! timestamp and a [`crate::histogram::codec`] encoding. Layout:
//! `common/docs/format/log-record.md` ("Version 4").

use crate::histogram::{HistSample, codec};
use crate::record::encode_label_pairs;
use crate::varint::{Cursor, put_uvarint};

/// Builds the histogram section series by series.
#[derive(Debug, Default)]
pub(crate) struct HistWriter {
    pub(crate) buf: Vec<u8>,
    pub(crate) series: u64,
}

impl HistWriter {
    pub(crate) fn push_series<'a>(
        &mut self,
        labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
        samples: &[HistSample],
    ) {
        put_uvarint(&mut self.buf, labels.len() as u64);
        encode_label_pairs(&mut self.buf, labels);
        put_uvarint(&mut self.buf, samples.len() as u64);
        for s in samples {
            self.buf.extend_from_slice(&s.t.to_le_bytes());
            codec::encode(&s.h, &mut self.buf);
        }
        self.series += 1;
    }
}

/// One histogram series of a record: encoded labels and samples, borrowed.
#[derive(Debug, Clone)]
pub struct HistSeriesView<'a> {
    label_count: usize,
    label_bytes: &'a [u8],
    sample_count: usize,
    samples: &'a [u8],
}

impl<'a> HistSeriesView<'a> {
    /// The number of label pairs.
    pub fn label_count(&self) -> usize {
        self.label_count
    }

    /// The canonical encoded label pairs (as [`crate::record::SeriesView::label_bytes`]).
    pub fn label_bytes(&self) -> &'a [u8] {
        self.label_bytes
    }

    /// Decodes the (name, value) pairs, validating UTF-8.
    pub fn labels(&self) -> Result<Vec<(&'a str, &'a str)>, &'static str> {
        let mut c = Cursor::new(self.label_bytes);
        (0..self.label_count).map(|_| (|| Some((c.str()?, c.str()?)))().ok_or("label is not UTF-8")).collect()
    }

    /// The number of histogram samples.
    pub fn sample_count(&self) -> usize {
        self.sample_count
    }

    /// The samples in the order written (their structure was checked by
    /// the iterator that produced this view, so decoding cannot fail).
    pub fn samples(&self) -> impl Iterator<Item = HistSample> + 'a {
        let mut c = Cursor::new(self.samples);
        (0..self.sample_count).map_while(move |_| {
            let t = c.u64_le()? as i64;
            Some(HistSample::new(t, codec::decode(&mut c)?))
        })
    }
}

/// Iterates `count` series of the section `buf`.
pub(crate) fn iter<'a>(
    buf: &'a [u8],
    count: u64,
) -> impl Iterator<Item = Result<HistSeriesView<'a>, &'static str>> + 'a {
    let mut c = Cursor::new(buf);
    let mut left = count;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        left -= 1;
        let r = (|| {
            let label_count = c.uvarint_usize()?;
            let start = c.pos;
            for _ in 0..label_count {
                c.len_prefixed()?;
                c.len_prefixed()?;
            }
            let label_bytes = &c.buf()[start..c.pos];
            let sample_count = c.uvarint_usize()?;
            let start = c.pos;
            for _ in 0..sample_count {
                c.u64_le()?;
                codec::decode(&mut c)?;
            }
            Some(HistSeriesView { label_count, label_bytes, sample_count, samples: &c.buf()[start..c.pos] })
        })();
        if r.is_none() {
            left = 0;
        }
        Some(r.ok_or("truncated or malformed histogram series"))
    })
}

#[cfg(test)]
mod tests {
    use crate::histogram::{Histogram, Span};
    use crate::record::{RECORD_VERSION, RECORD_VERSION_V2, RECORD_VERSION_V4, RecordBuilder, RecordView};
    use crate::{HistSample, Sample, TenantId};

    fn hist(n: f64) -> Histogram {
        Histogram {
            integer: true,
            count: n,
            sum: n * 2.0,
            positive_spans: vec![Span { offset: 0, length: 1 }],
            positive_buckets: vec![n],
            ..Histogram::default()
        }
    }

    #[test]
    fn v4_carries_floats_and_histograms() {
        let t = TenantId::new("acme").unwrap();
        for version in [RECORD_VERSION, RECORD_VERSION_V2] {
            let mut b = RecordBuilder::with_version(&t, version);
            b.push_series([("__name__", "up")].into_iter(), &[Sample::new(1, 1.0)]);
            b.push_histogram_series(
                [("__name__", "lat"), ("job", "a")].into_iter(),
                &[HistSample::new(5, hist(3.0)), HistSample::new(6, Histogram::stale_marker())],
            );
            let bytes = b.finish();
            assert_eq!(bytes[0], RECORD_VERSION_V4);
            let mut scratch = Vec::new();
            let r = RecordView::parse(&bytes, &mut scratch, 0, 0).unwrap();
            let floats: Vec<_> = r.series().map(|s| s.unwrap().samples().collect::<Vec<_>>()).collect();
            assert_eq!(floats, vec![vec![Sample::new(1, 1.0)]]);
            assert_eq!(r.histogram_series_count(), 1);
            let hs: Vec<_> = r.histogram_series().map(|s| s.unwrap()).collect();
            assert_eq!(hs[0].labels().unwrap(), vec![("__name__", "lat"), ("job", "a")]);
            let samples: Vec<_> = hs[0].samples().collect();
            assert_eq!(samples.len(), 2);
            assert_eq!(*samples[0].h, hist(3.0));
            assert!(samples[1].h.is_stale());
        }
    }

    #[test]
    fn float_only_records_stay_v3_and_truncation_is_an_error_item() {
        let t = TenantId::new("a").unwrap();
        let mut b = RecordBuilder::new(&t);
        b.push_series([("a", "b")].into_iter(), &[Sample::new(1, 1.0)]);
        assert_eq!(b.finish()[0], RECORD_VERSION);
        let mut b = RecordBuilder::new(&t);
        b.push_histogram_series([("a", "b")].into_iter(), &[HistSample::new(1, hist(1.0))]);
        let bytes = b.finish();
        let mut scratch = Vec::new();
        let r = RecordView::parse(&bytes[..bytes.len() - 2], &mut scratch, 0, 0).unwrap();
        assert!(r.histogram_series().next().unwrap().is_err());
    }

    /// A version 4 record, frozen (tenant `a`, no float series, `h` with one
    /// integer histogram at t=1: count 1, sum 2, bucket 0 = 1); see
    /// `log-record.md`, "Version 4".
    const V4_RECORD: &[u8] = &[
        0x04, 0x01, b'a', 0x00, 0x00, 0x00, 0x01, // header, no float series, empty block, 1 histogram series
        0x01, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x01, b'h', // labels
        0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, // 1 sample, t = 1
        0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, // flags, schema, threshold, sum
        0x01, 0x00, 0x01, 0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, // counts, spans, buckets
    ];

    #[test]
    fn decodes_frozen_v4_record() {
        let mut scratch = Vec::new();
        let r = RecordView::parse(V4_RECORD, &mut scratch, 0, 0).unwrap();
        let s: Vec<_> = r.histogram_series().map(|s| s.unwrap()).collect();
        assert_eq!(s[0].labels().unwrap(), vec![("__name__", "h")]);
        let samples: Vec<_> = s[0].samples().collect();
        assert_eq!(samples, vec![HistSample::new(1, hist(1.0))]);
        let t = TenantId::new("a").unwrap();
        let mut b = RecordBuilder::new(&t);
        b.push_histogram_series([("__name__", "h")].into_iter(), &[HistSample::new(1, hist(1.0))]);
        assert_eq!(b.finish(), V4_RECORD);
    }
}
