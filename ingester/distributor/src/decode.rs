//! A zero-copy decoder of `prometheus.WriteRequest` for the hot path.
//!
//! Decoding with `prost` allocates a `String` per label name and value and a
//! `Vec` per series; profiling the push path showed decoding was most of
//! its CPU time. This decoder borrows every label as `&str` from the
//! decompressed body and collects all series into three flat vectors (label
//! pairs, samples, series ranges), so a request costs a handful of
//! allocations. It accepts exactly what `prost` accepts for the fields used
//! (a test compares both on random requests): unknown fields are skipped,
//! strings must be UTF-8, a known field with the wrong wire type is an error,
//! and for the scalar fields of a sample the last occurrence wins.

mod v2;

use strata_common::Sample;

use super::histograms::HistSrc;
use super::proto::WriteRequest;

/// Why a body is not a valid `WriteRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {at}")]
pub struct ProtoDecodeError {
    /// Byte offset in the decompressed body where decoding stopped.
    pub at: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

/// One series of a [`FlatRequest`]: ranges into its vectors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FlatSeries {
    labels: (u32, u32),
    samples: (u32, u32),
    exemplars: (u32, u32),
    /// Native histograms, not decoded yet (a range of `FlatRequest::histograms`).
    histograms: (u32, u32),
    /// Remote write 2.0: when the counter started, ms (0 = not sent).
    pub created_timestamp: i64,
    /// Remote write 2.0: why its symbol references cannot be resolved (the
    /// series is refused alone).
    pub invalid_refs: Option<&'static str>,
}

/// An exemplar of a [`FlatSeries`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FlatExemplar {
    labels: (u32, u32),
    /// The observed value.
    pub value: f64,
    /// Its timestamp, ms (0 = not sent).
    pub t: i64,
}

/// Metadata of a metric family, as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlatMetadata<'a> {
    /// The metric family (remote write 2.0: the series' metric name).
    pub family: &'a str,
    /// `MetricType` number (the same in 1.0 and 2.0; 0 = unknown).
    pub kind: i32,
    /// Help text.
    pub help: &'a str,
    /// Unit.
    pub unit: &'a str,
}

/// A decoded request (1.0 or 2.0) whose strings borrow the body.
#[derive(Debug, Default)]
pub(crate) struct FlatRequest<'a> {
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<Sample>,
    exemplar_labels: Vec<(&'a str, &'a str)>,
    exemplars: Vec<FlatExemplar>,
    /// Metadata in the order sent.
    pub metadata: Vec<FlatMetadata<'a>>,
    histograms: Vec<HistSrc<'a>>,
    pub series: Vec<FlatSeries>,
}

impl<'a> FlatRequest<'a> {
    /// The label pairs of `s`, as sent.
    pub(crate) fn labels(&self, s: &FlatSeries) -> &[(&'a str, &'a str)] {
        &self.labels[s.labels.0 as usize..s.labels.1 as usize]
    }

    /// The samples of `s`.
    pub(crate) fn samples(&self, s: &FlatSeries) -> &[Sample] {
        &self.samples[s.samples.0 as usize..s.samples.1 as usize]
    }

    /// The exemplars of `s`.
    pub(crate) fn exemplars(&self, s: &FlatSeries) -> &[FlatExemplar] {
        &self.exemplars[s.exemplars.0 as usize..s.exemplars.1 as usize]
    }

    /// The labels of exemplar `e`.
    pub(crate) fn exemplar_labels(&self, e: &FlatExemplar) -> &[(&'a str, &'a str)] {
        &self.exemplar_labels[e.labels.0 as usize..e.labels.1 as usize]
    }

    /// The native histograms of `s`, not decoded yet.
    pub(crate) fn histograms(&self, s: &FlatSeries) -> &[HistSrc<'a>] {
        &self.histograms[s.histograms.0 as usize..s.histograms.1 as usize]
    }

    /// Borrows a `prost`-decoded request.
    pub(crate) fn from_proto(req: &'a WriteRequest) -> Self {
        let mut out = FlatRequest {
            labels: Vec::with_capacity(req.timeseries.iter().map(|t| t.labels.len()).sum()),
            samples: Vec::with_capacity(req.timeseries.iter().map(|t| t.samples.len()).sum()),
            histograms: Vec::new(),
            series: Vec::with_capacity(req.timeseries.len()),
            ..Default::default()
        };
        for ts in &req.timeseries {
            let l0 = out.labels.len() as u32;
            out.labels.extend(ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
            let s0 = out.samples.len() as u32;
            out.samples.extend(ts.samples.iter().map(|s| Sample::new(s.timestamp, s.value)));
            let e0 = out.exemplars.len() as u32;
            for e in &ts.exemplars {
                let el0 = out.exemplar_labels.len() as u32;
                out.exemplar_labels.extend(e.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
                let labels = (el0, out.exemplar_labels.len() as u32);
                out.exemplars.push(FlatExemplar { labels, value: e.value, t: e.timestamp });
            }
            let h0 = out.histograms.len() as u32;
            out.histograms.extend(ts.histograms.iter().map(HistSrc::Proto));
            out.series.push(FlatSeries {
                labels: (l0, out.labels.len() as u32),
                samples: (s0, out.samples.len() as u32),
                exemplars: (e0, out.exemplars.len() as u32),
                histograms: (h0, out.histograms.len() as u32),
                created_timestamp: 0,
                invalid_refs: None,
            });
        }
        out.metadata = req
            .metadata
            .iter()
            .map(|m| FlatMetadata { family: &m.metric_family_name, kind: m.r#type, help: &m.help, unit: &m.unit })
            .collect();
        out
    }

    /// Decodes a `WriteRequest` from `buf` without copying strings.
    pub(crate) fn decode(buf: &'a [u8]) -> Result<Self, ProtoDecodeError> {
        let mut out = FlatRequest::default();
        let mut r = Reader { buf, pos: 0 };
        while !r.done() {
            let (field, wire) = r.key()?;
            match (field, wire) {
                (1, LEN) => {
                    let body = r.len_delimited()?;
                    out.decode_series(body)?;
                    if out.series.len() == 1 {
                        out.reserve_like_first(buf.len(), body.buf.len());
                    }
                }
                (3, LEN) => {
                    let mut mr = r.len_delimited()?;
                    let mut m = FlatMetadata { family: "", kind: 0, help: "", unit: "" };
                    while !mr.done() {
                        match mr.key()? {
                            (1, VARINT) => m.kind = mr.varint()? as i32,
                            (2, LEN) => m.family = mr.string()?,
                            (4, LEN) => m.help = mr.string()?,
                            (5, LEN) => m.unit = mr.string()?,
                            (1 | 2 | 4 | 5, _) => return Err(mr.err("wrong wire type for MetricMetadata field")),
                            (_, w) => mr.skip(w)?,
                        }
                    }
                    out.metadata.push(m);
                }
                (1 | 3, _) => return Err(r.err("wrong wire type for a WriteRequest field")),
                _ => r.skip(wire)?,
            }
        }
        Ok(out)
    }

    /// Room for as many series as the request would hold if all were as
    /// long as the first (`series_bytes` of `request_bytes`): senders batch
    /// series of one shape, and growing the vectors copied them ~log n
    /// times. Never more than the request could hold, so a hostile first
    /// series cannot make this reserve much more than the body's size.
    fn reserve_like_first(&mut self, request_bytes: usize, series_bytes: usize) {
        let series = request_bytes / series_bytes.max(1);
        self.series.reserve(series);
        self.labels.reserve(series * self.labels.len());
        self.samples.reserve(series * self.samples.len());
    }

    fn decode_series(&mut self, r: Reader<'a>) -> Result<(), ProtoDecodeError> {
        let mut r = r;
        let l0 = self.labels.len() as u32;
        let s0 = self.samples.len() as u32;
        let e0 = self.exemplars.len() as u32;
        let h0 = self.histograms.len() as u32;
        // Senders put the labels first, and their names and values are
        // nearly always ASCII: one check over that run replaces a UTF-8
        // validation per string (a tenth of the push path's CPU).
        let mut run = r.label_run()?;
        let ascii = run.buf.is_ascii();
        while !run.done() {
            let _ = run.key()?;
            self.labels.push(run.len_delimited()?.label_checked(!ascii)?);
        }
        while !r.done() {
            let (field, wire) = r.key()?;
            match (field, wire) {
                (1, LEN) => self.labels.push(r.len_delimited()?.label()?),
                (2, LEN) => self.samples.push(r.len_delimited()?.sample()?),
                (3, LEN) => {
                    let mut er = r.len_delimited()?;
                    let el0 = self.exemplar_labels.len() as u32;
                    let (mut value, mut t) = (0f64, 0i64);
                    while !er.done() {
                        match er.key()? {
                            (1, LEN) => self.exemplar_labels.push(er.len_delimited()?.label()?),
                            (2, FIXED64) => value = f64::from_bits(er.fixed64()?),
                            (3, VARINT) => t = er.varint()? as i64,
                            (1..=3, _) => return Err(er.err("wrong wire type for Exemplar field")),
                            (_, w) => er.skip(w)?,
                        }
                    }
                    let labels = (el0, self.exemplar_labels.len() as u32);
                    self.exemplars.push(FlatExemplar { labels, value, t });
                }
                (4, LEN) => {
                    self.histograms.push(HistSrc::Wire(r.len_delimited()?.buf));
                }
                (1..=4, VARINT | FIXED64 | FIXED32) => {
                    return Err(r.err("wrong wire type for TimeSeries field"));
                }
                (_, w) => r.skip(w)?,
            }
        }
        self.series.push(FlatSeries {
            labels: (l0, self.labels.len() as u32),
            samples: (s0, self.samples.len() as u32),
            exemplars: (e0, self.exemplars.len() as u32),
            histograms: (h0, self.histograms.len() as u32),
            created_timestamp: 0,
            invalid_refs: None,
        });
        Ok(())
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A cursor over a protobuf message; `base` keeps error offsets absolute.
#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn err(&self, reason: &'static str) -> ProtoDecodeError {
        ProtoDecodeError { at: self.pos, reason }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, ProtoDecodeError> {
        // Fast path: keys, lengths of labels and most numbers fit in one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, ProtoDecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else { return Err(self.err("truncated varint")) };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    #[inline]
    fn key(&mut self) -> Result<(u32, u8), ProtoDecodeError> {
        let k = self.varint()?;
        let field = k >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(self.err("invalid field number"));
        }
        Ok((field as u32, (k & 7) as u8))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoDecodeError> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| self.err("buffer underflow"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn fixed64(&mut self) -> Result<u64, ProtoDecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// The leading run of `Label` fields (field 1) of a `TimeSeries`
    /// body, as a reader over just those bytes; `self` moves past it.
    fn label_run(&mut self) -> Result<Reader<'a>, ProtoDecodeError> {
        let start = self.pos;
        loop {
            let mut next = *self;
            if next.done() || next.key()? != (1, LEN) {
                break;
            }
            next.len_delimited()?;
            *self = next;
        }
        Ok(Reader { buf: &self.buf[start..self.pos], pos: 0 })
    }

    /// A `Label` message (name 1, value 2; borrowed strings).
    #[inline]
    pub(crate) fn label(self) -> Result<(&'a str, &'a str), ProtoDecodeError> {
        self.label_checked(true)
    }

    /// [`Self::label`], validating UTF-8 only when `validate`: the caller
    /// passes `false` only for bytes it checked to be ASCII.
    #[inline]
    fn label_checked(mut self, validate: bool) -> Result<(&'a str, &'a str), ProtoDecodeError> {
        // Fast path, the layout every sender writes: name (field 1) then
        // value (field 2), each shorter than 128 bytes (one-byte lengths).
        let b = self.buf;
        if let [0x0a, n, rest @ ..] = b
            && *n < 0x80
            && let Some((name, rest)) = rest.split_at_checked(usize::from(*n))
            && let [0x12, m, value @ ..] = rest
            && usize::from(*m) == value.len()
        {
            return Ok((self.str_of(name, validate)?, self.str_of(value, validate)?));
        }
        let (mut name, mut value) = ("", "");
        while !self.done() {
            match self.key()? {
                (1, LEN) => name = self.string_checked(validate)?,
                (2, LEN) => value = self.string_checked(validate)?,
                (1 | 2, _) => return Err(self.err("wrong wire type for Label field")),
                (_, w) => self.skip(w)?,
            }
        }
        Ok((name, value))
    }

    /// A `Sample` message (value 1, timestamp 2), the same in 1.0 and 2.0.
    #[inline]
    pub(crate) fn sample(mut self) -> Result<Sample, ProtoDecodeError> {
        let (mut v, mut t) = (0f64, 0i64);
        while !self.done() {
            match self.key()? {
                (1, FIXED64) => v = f64::from_bits(self.fixed64()?),
                (2, VARINT) => t = self.varint()? as i64,
                (1 | 2, _) => return Err(self.err("wrong wire type for Sample field")),
                (_, w) => self.skip(w)?,
            }
        }
        Ok(Sample::new(t, v))
    }

    /// A length-delimited field as a sub-reader (offsets stay relative to it).
    fn len_delimited(&mut self) -> Result<Reader<'a>, ProtoDecodeError> {
        let n = usize::try_from(self.varint()?).map_err(|_| self.err("length overflow"))?;
        Ok(Reader { buf: self.take(n)?, pos: 0 })
    }

    fn string(&mut self) -> Result<&'a str, ProtoDecodeError> {
        self.string_checked(true)
    }

    #[inline]
    fn string_checked(&mut self, validate: bool) -> Result<&'a str, ProtoDecodeError> {
        let b = self.len_delimited()?.buf;
        self.str_of(b, validate)
    }

    /// `b` as a string, validated as UTF-8 when `validate`.
    #[inline]
    fn str_of(&self, b: &'a [u8], validate: bool) -> Result<&'a str, ProtoDecodeError> {
        if !validate {
            debug_assert!(b.is_ascii());
            // SAFETY: the caller checked that these bytes are ASCII, and
            // ASCII is valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(b) });
        }
        std::str::from_utf8(b).map_err(|_| self.err("invalid string value: data is not UTF-8 encoded"))
    }

    fn skip(&mut self, wire: u8) -> Result<(), ProtoDecodeError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => self.take(4).map(drop),
            _ => Err(self.err("unsupported wire type (groups are not used by remote write)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Exemplar, Histogram, Label, MetricMetadata, Sample as PSample, TimeSeries};
    use proptest::prelude::*;
    use prost::Message;

    pub(super) fn flat_eq(a: &FlatRequest<'_>, b: &FlatRequest<'_>) -> bool {
        let ex_eq = |x: &FlatSeries, y: &FlatSeries| {
            let (ex, ey) = (a.exemplars(x), b.exemplars(y));
            ex.len() == ey.len()
                && ex.iter().zip(ey).all(|(p, q)| {
                    p.t == q.t && p.value.to_bits() == q.value.to_bits() && a.exemplar_labels(p) == b.exemplar_labels(q)
                })
        };
        a.series.len() == b.series.len()
            && a.metadata == b.metadata
            && a.series.iter().zip(&b.series).all(|(x, y)| {
                a.histograms(x).len() == b.histograms(y).len()
                    && a.histograms(x).iter().zip(b.histograms(y)).all(|(p, q)| p.decode().ok() == q.decode().ok())
                    && x.created_timestamp == y.created_timestamp
                    && x.invalid_refs == y.invalid_refs
                    && ex_eq(x, y)
                    && a.labels(x) == b.labels(y)
                    && a.samples(x)
                        .iter()
                        .map(|s| (s.t, s.v.to_bits()))
                        .eq(b.samples(y).iter().map(|s| (s.t, s.v.to_bits())))
            })
    }

    proptest! {
        #[test]
        fn matches_prost(series in prop::collection::vec((
            // Short ASCII, any UTF-8 and lengths around 128 (one- and
            // two-byte length prefixes): the decoder's fast and slow paths.
            prop::collection::vec(("[a-z_]{0,6}|[a-z]{126,129}", "\\PC{0,8}|[a-z]{126,129}"), 0..5),
            prop::collection::vec((any::<i64>(), any::<f64>()), 0..5),
            0..3usize, 0..2usize), 0..8), meta in 0..3usize) {
            let req = WriteRequest {
                timeseries: series.iter().map(|(labels, samples, ex, hist)| TimeSeries {
                    labels: labels.iter().map(|(n, v)| Label { name: n.clone(), value: v.clone() }).collect(),
                    samples: samples.iter().map(|&(timestamp, value)| PSample { value, timestamp }).collect(),
                    exemplars: (0..*ex).map(|i| Exemplar {
                        labels: vec![Label { name: "trace_id".into(), value: format!("t{i}") }],
                        value: 1.0,
                        timestamp: i as i64,
                    }).collect(),
                    histograms: (0..*hist).map(|_| Histogram { sum: 2.0, schema: 1, timestamp: 5, count_int: Some(0), ..Default::default() }).collect(),
                }).collect(),
                metadata: (0..meta).map(|i| MetricMetadata { r#type: i as i32 + 1, metric_family_name: "m".into(), help: "h".into(), unit: "".into() }).collect(),
            };
            let bytes = req.encode_to_vec();
            let flat = FlatRequest::decode(&bytes).unwrap();
            // Compared with prost's decoding of the same bytes (prost's encoder
            // drops -0.0 as a default value, so the input itself can differ).
            let decoded = WriteRequest::decode(&bytes[..]).unwrap();
            prop_assert!(flat_eq(&flat, &FlatRequest::from_proto(&decoded)));
            // Every truncation is rejected by both or accepted by both.
            for cut in [bytes.len() / 2, bytes.len().saturating_sub(1)] {
                prop_assert_eq!(FlatRequest::decode(&bytes[..cut]).is_ok(), WriteRequest::decode(&bytes[..cut]).is_ok());
            }
        }
    }

    #[test]
    fn labels_after_samples_are_decoded_and_validated() {
        // timeseries { labels { a: b }, samples { t: 1 }, labels { c: <0xff> } }:
        // the leading run of labels is checked at once, later ones alone.
        let mut series = vec![0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', 0x12, 0x02, 0x10, 0x01];
        let late = |v: &[u8]| {
            let mut l = vec![0x0a, 0x01, b'c', 0x12, v.len() as u8];
            l.extend_from_slice(v);
            l
        };
        let mut ok = series.clone();
        let l = late("é".as_bytes());
        ok.extend([0x0a, l.len() as u8]);
        ok.extend(l);
        let req = [&[0x0a, ok.len() as u8][..], &ok].concat();
        let flat = FlatRequest::decode(&req).unwrap();
        assert_eq!(flat.labels, vec![("a", "b"), ("c", "é")]);
        let l = late(&[0xff]);
        series.extend([0x0a, l.len() as u8]);
        series.extend(l);
        let req = [&[0x0a, series.len() as u8][..], &series].concat();
        assert!(FlatRequest::decode(&req).unwrap_err().reason.contains("UTF-8"));
    }

    #[test]
    fn rejects_bad_utf8_and_wrong_wire_types() {
        // timeseries { labels { name: 0xff } }
        let bad = [0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff];
        assert!(WriteRequest::decode(&bad[..]).is_err());
        assert!(FlatRequest::decode(&bad).unwrap_err().reason.contains("UTF-8"));
        // timeseries as a varint
        assert!(FlatRequest::decode(&[0x08, 0x01]).is_err());
        assert!(WriteRequest::decode(&[0x08u8, 0x01][..]).is_err());
    }
}
