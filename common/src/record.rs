//! The log record: a batch of series for one tenant and one partition.
//!
//! Written by the push endpoint, read by ingester shards; the same bytes go to
//! the embedded log and to Kafka. Layout (little-endian, `uv` = unsigned LEB128
//! varint), documented in `common/docs/format/log-record.md`:
//!
//! ```text
//! u8  version (= 3; 1 and 2 are still read)
//! uv  tenant length, tenant bytes (UTF-8)
//! uv  series count
//! v3: uv expanded body length, then the body with shared label pairs (v3)
//! v2: uv body length, then the body as one LZ4 block (raw block format)
//! v1: the body as is (the series count is a padded 5-byte varint)
//! body (v1, v2; v3 once expanded), per series:
//!   uv  label count
//!   per label: uv name length, name, uv value length, value   (sorted by name)
//!   uv  sample count
//!   per sample: i64 timestamp (ms), f64 value (IEEE-754 bits)
//! v3 body, per series: uv label count, uv shared mask (bit i: pair i is the
//!   previous series' pair i), the pairs not shared, samples as above
//! v4: v3 with its body length explicit, then a native-histogram section
//! v5: v4 with the histogram section's length explicit, then the
//!   annotations (exemplars and metric metadata, see `annotations`)
//! ```
//!
//! Remote write sends one sample per series, so a body is mostly label
//! pairs repeated from the previous series; v3 writes each only where it
//! changes (see `v3`), which makes records about as small as v2's LZ4
//! did, at a fraction of its CPU on the push path and in the ingester.
//!
//! [`RecordView`] decodes without copying beyond the decompression (v2) or
//! expansion (v3) into the caller's buffer: labels are `&str` into it.
//! Iterating series only checks their structure; label UTF-8 is validated by
//! [`SeriesView::labels`], so a consumer that recognises a series by its
//! encoded label bytes ([`SeriesView::label_bytes`], the canonical
//! [`encode_label_pairs`] encoding) never decodes it again.

pub mod annotations;
mod histograms;
mod v3;

pub use self::annotations::Annotations;
pub use self::histograms::HistSeriesView;
use crate::error::{Error, Result};
use crate::exemplar::Exemplar;
use crate::histogram::HistSample;
use crate::metadata::MetricMetadata;
use crate::sample::Sample;
use crate::tenant::TenantId;
use crate::varint::{Cursor, put_uvarint};

/// Version byte of the current record layout (shared label pairs, v3).
pub const RECORD_VERSION: u8 = 3;

/// Version 3 plus a section of native-histogram series; written only for
/// records that carry histograms (float-only records stay version 3).
pub const RECORD_VERSION_V4: u8 = 4;

/// Version 4 plus the annotations (exemplars and metric metadata, see
/// [`annotations`]); written only for records that carry any.
pub const RECORD_VERSION_V5: u8 = 5;

/// The second layout: the v1 body as one LZ4 block. Still decoded, and
/// written by [`RecordBuilder::with_version`] on request.
pub const RECORD_VERSION_V2: u8 = 2;

/// The first layout: uncompressed body. Still decoded.
pub const RECORD_VERSION_V1: u8 = 1;

/// Whether records of `version` decode ([`RecordView::parse`]).
pub fn is_known_version(version: u8) -> bool {
    matches!(version, RECORD_VERSION_V5 | RECORD_VERSION_V4 | RECORD_VERSION | RECORD_VERSION_V2 | RECORD_VERSION_V1)
}

/// Largest decompressed body accepted when decoding (a corrupt length must
/// not allocate without bound); writers close records near 1 MiB.
pub const MAX_BODY_BYTES: usize = 256 << 20;

/// Builds one record series by series; [`Self::finish`] encodes it.
pub struct RecordBuilder {
    tenant: TenantId,
    body: Body,
    series: u64,
    hist: histograms::HistWriter,
    notes: annotations::AnnotationWriter,
}

/// The body being built, by the version it will be written in.
enum Body {
    V3(v3::BodyWriter),
    /// The v1/v2 body layout, LZ4-compressed by `finish`.
    V2(Vec<u8>),
}

impl RecordBuilder {
    /// An empty record of `tenant`, to be written in the current version.
    pub fn new(tenant: &TenantId) -> Self {
        Self {
            tenant: tenant.clone(),
            body: Body::V3(v3::BodyWriter::with_capacity(4096)),
            series: 0,
            hist: Default::default(),
            notes: Default::default(),
        }
    }

    /// An empty record of `tenant` in `version`: [`RECORD_VERSION`] or
    /// [`RECORD_VERSION_V2`] (for readers that do not know version 3 yet);
    /// anything else is the current version.
    pub fn with_version(tenant: &TenantId, version: u8) -> Self {
        let body = match version {
            RECORD_VERSION_V2 => Body::V2(Vec::with_capacity(4096)),
            _ => Body::V3(v3::BodyWriter::with_capacity(4096)),
        };
        Self { tenant: tenant.clone(), body, series: 0, hist: Default::default(), notes: Default::default() }
    }

    /// Adds one series; `labels` must be sorted by name with unique names.
    pub fn push_series<'a>(&mut self, labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>, samples: &[Sample]) {
        match &mut self.body {
            Body::V3(w) => w.push_series(labels, samples),
            Body::V2(buf) => {
                put_uvarint(buf, labels.len() as u64);
                encode_label_pairs(buf, labels);
                put_uvarint(buf, samples.len() as u64);
                buf.reserve(samples.len() * 16);
                for s in samples {
                    buf.extend_from_slice(&s.t.to_le_bytes());
                    buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
                }
            }
        }
        self.series += 1;
    }

    /// Adds one series' native-histogram samples (`labels` sorted by name,
    /// unique names). A record with any is written as version 4.
    pub fn push_histogram_series<'a>(
        &mut self,
        labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
        samples: &[HistSample],
    ) {
        self.hist.push_series(labels, samples);
    }

    /// Adds one series' exemplars (`labels` sorted by name, unique names).
    /// A record with any exemplar or metadata is written as version 5.
    pub fn push_exemplars<'a>(
        &mut self,
        labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
        exemplars: &[Exemplar],
    ) {
        self.notes.push_exemplars(labels, exemplars);
    }

    /// Adds one metadata entry of the metric family `family` (version 5).
    pub fn push_metadata(&mut self, family: &str, entry: &MetricMetadata) {
        self.notes.push_metadata(family, entry);
    }

    /// Whether nothing was pushed (no series, histograms or annotations).
    pub fn is_empty(&self) -> bool {
        self.series == 0 && self.hist.series == 0 && self.notes.is_empty()
    }

    /// The number of series pushed so far (float series; see
    /// [`Self::histogram_series_count`]).
    pub fn series_count(&self) -> u64 {
        self.series
    }

    /// The number of histogram series pushed so far.
    pub fn histogram_series_count(&self) -> u64 {
        self.hist.series
    }

    /// Size of the body once expanded or decompressed by a reader (what
    /// record splitting is based on: it bounds a reader's buffer).
    pub fn byte_len(&self) -> usize {
        let floats = match &self.body {
            Body::V3(w) => w.expanded,
            Body::V2(buf) => buf.len(),
        };
        floats + self.hist.buf.len() + self.notes.byte_len()
    }

    /// The encoded record.
    pub fn finish(self) -> Vec<u8> {
        let tenant = self.tenant.as_str().as_bytes();
        let with_notes = !self.notes.is_empty();
        let with_hist = self.hist.series > 0 || with_notes;
        let (version, expanded, block) = match self.body {
            Body::V3(w) if with_hist => (RECORD_VERSION_V4, w.expanded, w.buf),
            Body::V3(w) => (RECORD_VERSION, w.expanded, w.buf),
            Body::V2(buf) if with_hist => {
                // Version 2 cannot carry histograms: re-encode the floats as v3.
                (RECORD_VERSION_V4, buf.len(), v3::from_expanded(&buf, self.series))
            }
            // `compress` writes into spare capacity; sizing an output slice up
            // front would zero the whole worst-case size for every record.
            Body::V2(buf) => (RECORD_VERSION_V2, buf.len(), lz4_flex::block::compress(&buf)),
        };
        let version = if with_notes { RECORD_VERSION_V5 } else { version };
        let mut out =
            Vec::with_capacity(1 + 5 + tenant.len() + 40 + block.len() + self.hist.buf.len() + self.notes.byte_len());
        out.push(version);
        put_uvarint(&mut out, tenant.len() as u64);
        out.extend_from_slice(tenant);
        put_uvarint(&mut out, self.series);
        put_uvarint(&mut out, expanded as u64);
        if version >= RECORD_VERSION_V4 {
            put_uvarint(&mut out, block.len() as u64);
        }
        out.extend_from_slice(&block);
        if version >= RECORD_VERSION_V4 {
            put_uvarint(&mut out, self.hist.series);
        }
        if version == RECORD_VERSION_V5 {
            // Version 5 bounds the histogram section so the annotations can follow.
            put_uvarint(&mut out, self.hist.buf.len() as u64);
        }
        if version >= RECORD_VERSION_V4 {
            out.extend_from_slice(&self.hist.buf);
        }
        if version == RECORD_VERSION_V5 {
            self.notes.finish_into(&mut out);
        }
        out
    }
}

/// Appends the canonical encoding of label pairs to `buf`: per pair
/// `uv name length, name, uv value length, value` with minimal varints. This
/// is exactly what a record holds between a series' label count and its
/// sample count, and what [`SeriesView::label_bytes`] returns for records
/// written by [`RecordBuilder`]; the ingester's memtable keys series by it.
pub fn encode_label_pairs<'a>(buf: &mut Vec<u8>, labels: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (n, v) in labels {
        put_uvarint(buf, n.len() as u64);
        buf.extend_from_slice(n.as_bytes());
        put_uvarint(buf, v.len() as u64);
        buf.extend_from_slice(v.as_bytes());
    }
}

/// A view of one record: labels and samples borrow from the payload (v1) or
/// from the caller's decompression buffer (v2).
#[derive(Debug)]
pub struct RecordView<'a> {
    /// The tenant id every series of the record belongs to.
    pub tenant: &'a str,
    series_count: u64,
    body: &'a [u8],
    /// Histogram series (version 4): their count and encoded section.
    hist: (u64, &'a [u8]),
    /// The annotation sections (version 5; empty otherwise).
    notes: &'a [u8],
}

/// One series of a record: encoded labels and samples, borrowed. Its
/// structure (lengths) was checked by the iterator; label UTF-8 and order
/// are not checked until [`Self::labels`].
#[derive(Debug)]
pub struct SeriesView<'a> {
    label_count: usize,
    label_bytes: &'a [u8],
    samples: &'a [u8],
}

impl<'a> SeriesView<'a> {
    /// The number of label pairs.
    pub fn label_count(&self) -> usize {
        self.label_count
    }

    /// The encoded label pairs as they appear in the record (without the
    /// label count; the pairs are self-delimiting). For records written by
    /// [`RecordBuilder`] these equal [`encode_label_pairs`] of the labels.
    pub fn label_bytes(&self) -> &'a [u8] {
        self.label_bytes
    }

    /// Decodes the (name, value) pairs, validating UTF-8. Order and
    /// uniqueness are the writer's contract and are not checked here.
    pub fn labels(&self) -> Result<Vec<(&'a str, &'a str)>, &'static str> {
        let mut c = Cursor::new(self.label_bytes);
        let mut out = Vec::with_capacity(self.label_count);
        for _ in 0..self.label_count {
            let n = c.str().ok_or("label is not UTF-8")?;
            let v = c.str().ok_or("label is not UTF-8")?;
            out.push((n, v));
        }
        Ok(out)
    }

    /// The number of samples.
    pub fn sample_count(&self) -> usize {
        self.samples.len() / 16
    }

    /// The samples, in the order written.
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

impl<'a> RecordView<'a> {
    /// Parses the header and, for version 2, decompresses the body into
    /// `scratch` (for version 3, expands it there; reused between records:
    /// it only grows). `partition` and `offset` only label errors.
    pub fn parse(payload: &'a [u8], scratch: &'a mut Vec<u8>, partition: u32, offset: u64) -> Result<Self> {
        let corrupt = |reason: &str| Error::CorruptRecord { partition, offset, reason: reason.to_string() };
        let version = *payload.first().ok_or_else(|| corrupt("empty record"))?;
        if !is_known_version(version) {
            return Err(Error::UnsupportedRecordVersion { partition, offset, version });
        }
        let mut c = Cursor::at(payload, 1);
        let tenant = c.str().ok_or_else(|| corrupt("bad tenant"))?;
        let series_count = c.uvarint().ok_or_else(|| corrupt("bad series count"))?;
        if version == RECORD_VERSION_V1 {
            return Ok(Self { tenant, series_count, body: &payload[c.pos..], hist: (0, &[]), notes: &[] });
        }
        let len = c.uvarint().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| corrupt("bad body length"))?;
        if len > MAX_BODY_BYTES {
            return Err(corrupt("body length out of range"));
        }
        let mut hist: (u64, &'a [u8]) = (0, &[]);
        let mut notes: &'a [u8] = &[];
        let block = if version == RECORD_VERSION_V4 || version == RECORD_VERSION_V5 {
            let n = c.uvarint_usize().ok_or_else(|| corrupt("bad block length"))?;
            let block = c.bytes(n).ok_or_else(|| corrupt("block shorter than its length"))?;
            let count = c.uvarint().ok_or_else(|| corrupt("bad histogram series count"))?;
            if version == RECORD_VERSION_V5 {
                let n = c.uvarint_usize().ok_or_else(|| corrupt("bad histogram section length"))?;
                let section = c.bytes(n).ok_or_else(|| corrupt("histogram section shorter than its length"))?;
                hist = (count, section);
                notes = c.remaining();
            } else {
                hist = (count, c.remaining());
            }
            block
        } else {
            &payload[c.pos..]
        };
        if version == RECORD_VERSION || version >= RECORD_VERSION_V4 {
            v3::expand(block, series_count, len, scratch).map_err(corrupt)?;
            return Ok(Self { tenant, series_count, body: &scratch[..], hist, notes });
        }
        // LZ4 expands at most ~255x; a larger claim is corrupt.
        if len > block.len().saturating_mul(255).saturating_add(16) {
            return Err(corrupt("body length out of range"));
        }
        // Only the growth is zeroed; decompression overwrites the rest.
        scratch.resize(len, 0);
        match lz4_flex::block::decompress_into(block, &mut scratch[..]) {
            Ok(n) if n == len => Ok(Self { tenant, series_count, body: &scratch[..], hist, notes }),
            Ok(_) => Err(corrupt("body shorter than its length")),
            Err(_) => Err(corrupt("bad LZ4 block")),
        }
    }

    /// The number of series the record holds.
    pub fn series_count(&self) -> u64 {
        self.series_count
    }

    /// The number of native-histogram series (version 4; 0 otherwise).
    pub fn histogram_series_count(&self) -> u64 {
        self.hist.0
    }

    /// Iterates the native-histogram series (version 4); a truncated or
    /// malformed section yields an error item and ends the iteration.
    pub fn histogram_series(&self) -> impl Iterator<Item = Result<HistSeriesView<'a>, &'static str>> + 'a {
        histograms::iter(self.hist.1, self.hist.0)
    }

    /// The exemplars and metadata the record carries (version 5; empty
    /// for older versions); an error if the sections are malformed.
    pub fn annotations(&self) -> Result<Annotations, &'static str> {
        if self.notes.is_empty() {
            return Ok(Annotations::default());
        }
        let mut c = Cursor::new(self.notes);
        match annotations::decode(&mut c) {
            Some(a) if c.remaining().is_empty() => Ok(a),
            Some(_) => Err("bytes after the annotation sections"),
            None => Err("truncated or malformed annotations"),
        }
    }

    /// Iterates the series; a truncated or malformed body yields an error item.
    pub fn series(&self) -> impl Iterator<Item = Result<SeriesView<'a>, &'static str>> + 'a {
        let mut c = Cursor::new(self.body);
        let mut left = self.series_count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let r = (|| {
                let label_count = usize::try_from(c.uvarint()?).ok()?;
                let start = c.pos;
                for _ in 0..label_count {
                    c.len_prefixed()?;
                    c.len_prefixed()?;
                }
                let label_bytes = &c.buf()[start..c.pos];
                let ns = usize::try_from(c.uvarint()?).ok()?;
                let samples = c.bytes(ns.checked_mul(16)?)?;
                Some(SeriesView { label_count, label_bytes, samples })
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
        let mut scratch = Vec::new();
        let r = RecordView::parse(&bytes, &mut scratch, 0, 0).unwrap();
        assert_eq!(r.tenant, "acme");
        let s: Vec<_> = r.series().map(|s| s.unwrap()).collect();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels().unwrap(), vec![("__name__", "up"), ("job", "a")]);
        let mut key = Vec::new();
        encode_label_pairs(&mut key, [("__name__", "up"), ("job", "a")]);
        assert_eq!(s[0].label_bytes(), &key[..]);
        assert_eq!(s[0].label_count(), 2);
        let samples: Vec<_> = s[0].samples().collect();
        assert_eq!(samples[0], Sample::new(1, 1.5));
        assert!(samples[1].v.is_nan());
        assert_eq!(s[1].sample_count(), 0);
    }

    /// A version 5 record (frozen bytes, `common/docs/format/log-record.md`
    /// "Version 5"): tenant `a`, the float series `{__name__="x"}` with
    /// (1, 1.0), its exemplar `{trace_id="t"}` 0.5 at 1, and the metadata
    /// `x`: counter, help "h", no unit.
    const V5_RECORD: &[u8] = &[
        0x05, 0x01, b'a', 0x01, 0x1d, 0x1e, // version, tenant, series count, expanded length, v3 body length
        0x01, 0x00, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x01, b'x', 0x01, // labels
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // (1, 1.0)
        0x00, 0x00, // no histogram series, histogram section of 0 bytes
        0x01, 0x01, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x01, b'x', // 1 exemplar series
        0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f, // 1 exemplar: t = 1, 0.5
        0x01, 0x08, b't', b'r', b'a', b'c', b'e', b'_', b'i', b'd', 0x01, b't', // its labels
        0x01, 0x01, b'x', 0x01, 0x01, b'h', 0x00, // 1 metadata entry: x, counter, "h", ""
    ];

    fn v5_annotations() -> Annotations {
        Annotations {
            exemplars: vec![(
                crate::Labels::from_pairs([("__name__", "x")]).unwrap(),
                vec![Exemplar { labels: crate::Labels::from_pairs([("trace_id", "t")]).unwrap(), value: 0.5, t: 1 }],
            )],
            metadata: vec![("x".into(), MetricMetadata { kind: "counter", help: "h".into(), unit: String::new() })],
        }
    }

    #[test]
    fn version_5_carries_exemplars_and_metadata_byte_for_byte() {
        let t = TenantId::new("a").unwrap();
        let mut b = RecordBuilder::new(&t);
        b.push_series([("__name__", "x")].into_iter(), &[Sample::new(1, 1.0)]);
        let a = v5_annotations();
        b.push_exemplars([("__name__", "x")].into_iter(), &a.exemplars[0].1);
        b.push_metadata("x", &a.metadata[0].1);
        assert_eq!(b.finish(), V5_RECORD);
        let mut scratch = Vec::new();
        let r = RecordView::parse(V5_RECORD, &mut scratch, 0, 0).unwrap();
        assert_eq!(r.annotations().unwrap(), a);
        let s: Vec<_> = r.series().map(|s| s.unwrap()).collect();
        assert_eq!(s[0].samples().collect::<Vec<_>>(), vec![Sample::new(1, 1.0)]);
        assert_eq!(r.histogram_series_count(), 0);
        // Only annotations (a metadata-only push): still version 5, no series.
        let mut b = RecordBuilder::new(&t);
        b.push_metadata("x", &a.metadata[0].1);
        assert!(!b.is_empty());
        let bytes = b.finish();
        assert_eq!(bytes[0], RECORD_VERSION_V5);
        let r = RecordView::parse(&bytes, &mut scratch, 0, 0).unwrap();
        assert_eq!((r.series_count(), r.annotations().unwrap().metadata.len()), (0, 1));
        // Records without annotations keep their versions and answer none.
        let mut b = RecordBuilder::new(&t);
        b.push_series([("a", "b")].into_iter(), &[Sample::new(1, 1.0)]);
        let bytes = b.finish();
        assert_eq!(bytes[0], RECORD_VERSION);
        assert!(RecordView::parse(&bytes, &mut scratch, 0, 0).unwrap().annotations().unwrap().is_empty());
        // Truncated annotations are an error, not a misread.
        let r = RecordView::parse(&V5_RECORD[..V5_RECORD.len() - 2], &mut scratch, 0, 0).unwrap();
        assert!(r.annotations().is_err());
    }

    #[test]
    fn version_5_with_histograms_keeps_both_sections() {
        let t = TenantId::new("a").unwrap();
        let h = crate::histogram::Histogram::default();
        let mut b = RecordBuilder::new(&t);
        b.push_histogram_series([("__name__", "h")].into_iter(), &[HistSample::new(5, h.clone())]);
        let a = v5_annotations();
        b.push_metadata("x", &a.metadata[0].1);
        let bytes = b.finish();
        assert_eq!(bytes[0], RECORD_VERSION_V5);
        let mut scratch = Vec::new();
        let r = RecordView::parse(&bytes, &mut scratch, 0, 0).unwrap();
        let hs: Vec<_> = r.histogram_series().map(|s| s.unwrap()).collect();
        assert_eq!(hs.len(), 1);
        assert_eq!(hs[0].samples().map(|s| s.t).collect::<Vec<_>>(), [5]);
        assert_eq!(r.annotations().unwrap().metadata, a.metadata);
    }

    #[test]
    fn rejects_unknown_version_and_truncation() {
        let mut scratch = Vec::new();
        assert!(matches!(
            RecordView::parse(&[9], &mut scratch, 1, 2),
            Err(Error::UnsupportedRecordVersion { version: 9, .. })
        ));
        let t = TenantId::new("a").unwrap();
        let mut b = RecordBuilder::new(&t);
        b.push_series([("a", "b")].into_iter(), &[Sample::new(1, 1.0)]);
        let bytes = b.finish();
        // A truncated v2 record fails to decompress.
        assert!(matches!(
            RecordView::parse(&bytes[..bytes.len() - 3], &mut scratch, 0, 0),
            Err(Error::CorruptRecord { .. })
        ));
        // A truncated v1 body yields an error item.
        let r = RecordView::parse(&V1_RECORD[..V1_RECORD.len() - 3], &mut scratch, 0, 0).unwrap();
        assert!(r.series().any(|s| s.is_err()));
        // A body length the block cannot hold is refused before allocating.
        let mut huge = bytes[..4].to_vec(); // version, tenant "a", series count
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        assert!(matches!(RecordView::parse(&huge, &mut scratch, 0, 0), Err(Error::CorruptRecord { .. })));
    }

    /// A version 1 record as written before version 2 (frozen bytes: tenant
    /// `acme`, `up{job="a"}` with (1, 1.5)).
    const V1_RECORD: &[u8] = &[
        0x01, 0x04, b'a', b'c', b'm', b'e', 0x81, 0x80, 0x80, 0x80, 0x00, 0x02, 0x08, b'_', b'_', b'n', b'a', b'm',
        b'e', b'_', b'_', 0x02, b'u', b'p', 0x03, b'j', b'o', b'b', 0x01, b'a', 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0xf8, 0x3f,
    ];

    #[test]
    fn more_labels_than_the_shared_mask_covers() {
        let names: Vec<String> = (0..70).map(|i| format!("l{i:02}")).collect();
        let t = TenantId::new("a").unwrap();
        let mut b = RecordBuilder::new(&t);
        for v in ["x", "x", "y"] {
            b.push_series(names.iter().map(|n| (n.as_str(), v)), &[Sample::new(1, 1.0)]);
        }
        let bytes = b.finish();
        let mut scratch = Vec::new();
        let r = RecordView::parse(&bytes, &mut scratch, 0, 0).unwrap();
        let got: Vec<Vec<(&str, &str)>> = r.series().map(|s| s.unwrap().labels().unwrap()).collect();
        for (labels, v) in got.iter().zip(["x", "x", "y"]) {
            assert_eq!(labels.len(), 70);
            assert!(labels.iter().zip(&names).all(|(l, n)| l.0 == n && l.1 == v));
        }
    }

    #[test]
    fn decodes_frozen_v1_records() {
        let mut scratch = Vec::new();
        let r = RecordView::parse(V1_RECORD, &mut scratch, 0, 0).unwrap();
        assert_eq!(r.tenant, "acme");
        let s: Vec<_> = r.series().map(|s| s.unwrap()).collect();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels().unwrap(), vec![("__name__", "up"), ("job", "a")]);
        assert_eq!(s[0].samples().collect::<Vec<_>>(), vec![Sample::new(1, 1.5)]);
        assert!(scratch.is_empty(), "v1 bodies are read in place");
    }

    proptest! {
        #[test]
        fn prop_round_trip(series in prop::collection::vec(
            // Small alphabets too, so that series share label pairs.
            (prop::collection::btree_map("[a-z_]{1,8}|[ab]", "[ -~]{1,12}|[xy]", 1..6),
             prop::collection::vec((any::<i64>(), any::<f64>()), 0..20)), 0..20)) {
            let t = TenantId::new("p").unwrap();
            let mut b = RecordBuilder::new(&t);
            for (labels, samples) in &series {
                let samples: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
                b.push_series(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())), &samples);
            }
            let mut b2 = RecordBuilder::with_version(&t, RECORD_VERSION_V2);
            for (labels, samples) in &series {
                let samples: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
                b2.push_series(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())), &samples);
            }
            prop_assert_eq!(b.byte_len(), b2.byte_len());
            let (bytes, bytes2) = (b.finish(), b2.finish());
            prop_assert_eq!(bytes[0], RECORD_VERSION);
            prop_assert_eq!(bytes2[0], RECORD_VERSION_V2);
            let (mut scratch, mut scratch2) = (vec![7u8; 3], Vec::new()); // stale contents must not matter
            let r = RecordView::parse(&bytes, &mut scratch, 0, 0).unwrap();
            prop_assert_eq!(r.series_count() as usize, series.len());
            for (view, (labels, samples)) in r.series().zip(&series) {
                let view = view.unwrap();
                let want: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                prop_assert_eq!(&view.labels().unwrap(), &want);
                let mut key = Vec::new();
                encode_label_pairs(&mut key, want.iter().copied());
                prop_assert_eq!(view.label_bytes(), &key[..]);
                let got: Vec<(i64, u64)> = view.samples().map(|s| (s.t, s.v.to_bits())).collect();
                let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
                prop_assert_eq!(got, want);
            }
            // Both versions expand to the same body.
            RecordView::parse(&bytes2, &mut scratch2, 0, 0).unwrap();
            prop_assert_eq!(scratch, scratch2);
        }
    }
}
