//! A zero-copy decoder of remote write 2.0 (`io.prometheus.write.v2.Request`)
//! into the same [`FlatRequest`] as 1.0: symbol references are resolved to
//! `&str` borrowed from the body, so validation, limits, partitioning and
//! record encoding need not know which version arrived.
//!
//! It accepts exactly what `prost` accepts for the fields used (a property
//! test compares both): packed and unpacked `labels_refs`, fields in any
//! order (the symbols may follow the series), unknown fields skipped, a
//! repeated embedded message merged (the last scalar wins). A reference
//! outside the symbols table, or an odd number of label references, makes
//! that series invalid (refused alone), not the request.

use strata_common::Sample;

use super::{FIXED64, FlatExemplar, FlatMetadata, FlatRequest, FlatSeries, LEN, ProtoDecodeError, Reader, VARINT};
use crate::histograms::HistSrc;
#[cfg(test)]
use crate::proto::v2::Request;

/// Resolves label references as (name, value) pairs onto `out`; on error
/// `out` is left as it was.
fn resolve<'a>(refs: &[u32], symbols: &[&'a str], out: &mut Vec<(&'a str, &'a str)>) -> Result<(), &'static str> {
    if !refs.len().is_multiple_of(2) {
        return Err("odd number of label references (labels_refs must hold name, value pairs)");
    }
    let start = out.len();
    for p in refs.chunks_exact(2) {
        match (symbols.get(p[0] as usize), symbols.get(p[1] as usize)) {
            (Some(n), Some(v)) => out.push((*n, *v)),
            _ => {
                out.truncate(start);
                return Err("label reference outside the symbols table");
            }
        }
    }
    Ok(())
}

/// One series' fields that need the symbols table, in buffers reused from
/// series to series (the samples go straight into the request).
#[derive(Default)]
struct Scratch {
    labels_refs: Vec<u32>,
    /// Exemplars: (range in `exemplar_refs`, value, timestamp).
    exemplars: Vec<((usize, usize), f64, i64)>,
    exemplar_refs: Vec<u32>,
    /// (type, help_ref, unit_ref), when the message was present.
    metadata: Option<(i32, u32, u32)>,
    created_timestamp: i64,
}

impl Scratch {
    fn clear(&mut self) {
        self.labels_refs.clear();
        self.exemplars.clear();
        self.exemplar_refs.clear();
        self.metadata = None;
        self.created_timestamp = 0;
    }
}

impl<'a> FlatRequest<'a> {
    /// Decodes an `io.prometheus.write.v2.Request` from `buf` without
    /// copying strings.
    pub(crate) fn decode_v2(buf: &'a [u8]) -> Result<Self, ProtoDecodeError> {
        let mut symbols: Vec<&'a str> = Vec::new();
        let mut bodies: Vec<Reader<'a>> = Vec::new();
        let mut r = Reader { buf, pos: 0 };
        while !r.done() {
            match r.key()? {
                (4, LEN) => symbols.push(r.string()?),
                (5, LEN) => bodies.push(r.len_delimited()?),
                (4 | 5, _) => return Err(r.err("wrong wire type for a Request field")),
                (_, w) => r.skip(w)?,
            }
        }
        let mut out = FlatRequest { series: Vec::with_capacity(bodies.len()), ..Default::default() };
        let mut scratch = Scratch::default();
        for body in bodies {
            scratch.clear();
            let (s0, h0) = (out.samples.len() as u32, out.histograms.len() as u32);
            decode_series(body, &mut scratch, &mut out.samples, &mut out.histograms)?;
            out.push_resolved(&scratch, (s0, h0), &symbols);
        }
        Ok(out)
    }

    /// Borrows a `prost`-decoded 2.0 request (the reference the decoder is
    /// property-tested against).
    #[cfg(test)]
    pub(crate) fn from_proto_v2(req: &'a Request) -> Self {
        let symbols: Vec<&str> = req.symbols.iter().map(String::as_str).collect();
        let mut out = FlatRequest::default();
        let mut scratch = Scratch::default();
        for ts in &req.timeseries {
            scratch.clear();
            scratch.labels_refs.extend(&ts.labels_refs);
            for e in &ts.exemplars {
                let start = scratch.exemplar_refs.len();
                scratch.exemplar_refs.extend(&e.labels_refs);
                scratch.exemplars.push(((start, scratch.exemplar_refs.len()), e.value, e.timestamp));
            }
            scratch.metadata = ts.metadata.map(|m| (m.r#type, m.help_ref, m.unit_ref));
            scratch.created_timestamp = ts.created_timestamp;
            let (s0, h0) = (out.samples.len() as u32, out.histograms.len() as u32);
            out.samples.extend(ts.samples.iter().map(|s| Sample::new(s.timestamp, s.value)));
            out.histograms.extend(ts.histograms.iter().map(HistSrc::Proto));
            out.push_resolved(&scratch, (s0, h0), &symbols);
        }
        out
    }

    /// Adds the series whose samples and histograms start at `s0` and `h0`
    /// (already pushed), resolving its references.
    fn push_resolved(&mut self, raw: &Scratch, (s0, h0): (u32, u32), symbols: &[&'a str]) {
        let l0 = self.labels.len() as u32;
        let mut invalid = resolve(&raw.labels_refs, symbols, &mut self.labels).err();
        let labels = &self.labels[l0 as usize..];
        let e0 = self.exemplars.len() as u32;
        for &((a, b), value, t) in &raw.exemplars {
            let el0 = self.exemplar_labels.len() as u32;
            match resolve(&raw.exemplar_refs[a..b], symbols, &mut self.exemplar_labels) {
                Ok(()) => {
                    let labels = (el0, self.exemplar_labels.len() as u32);
                    self.exemplars.push(FlatExemplar { labels, value, t });
                }
                Err(e) => invalid = invalid.or(Some(e)),
            }
        }
        if let Some((kind, help, unit)) = raw.metadata {
            let family = labels.iter().find(|(n, _)| *n == strata_common::labels::METRIC_NAME).map_or("", |p| p.1);
            match (symbols.get(help as usize), symbols.get(unit as usize)) {
                (Some(help), Some(unit)) => {
                    if !family.is_empty() && (kind != 0 || !help.is_empty() || !unit.is_empty()) {
                        self.metadata.push(FlatMetadata { family, kind, help, unit });
                    }
                }
                _ => invalid = invalid.or(Some("metadata reference outside the symbols table")),
            }
        }
        self.series.push(FlatSeries {
            labels: (l0, self.labels.len() as u32),
            samples: (s0, self.samples.len() as u32),
            exemplars: (e0, self.exemplars.len() as u32),
            histograms: (h0, self.histograms.len() as u32),
            created_timestamp: raw.created_timestamp,
            invalid_refs: invalid,
        });
    }
}

/// Repeated `uint32` in either encoding: packed (one length-delimited
/// run) or one varint per element; both may appear (prost appends).
fn push_refs(r: &mut Reader<'_>, wire: u8, out: &mut Vec<u32>) -> Result<(), ProtoDecodeError> {
    match wire {
        VARINT => out.push(r.varint()? as u32),
        LEN => {
            let mut p = r.len_delimited()?;
            while !p.done() {
                out.push(p.varint()? as u32);
            }
        }
        _ => return Err(r.err("wrong wire type for labels_refs")),
    }
    Ok(())
}

/// Decodes one `TimeSeries`: samples and histograms (the 2.0 `Histogram`
/// has the field numbers and types of 1.0's, so the 1.0 decoder reads it)
/// straight into the request, the references into `s`.
fn decode_series<'a>(
    mut r: Reader<'a>,
    s: &mut Scratch,
    samples: &mut Vec<Sample>,
    histograms: &mut Vec<HistSrc<'a>>,
) -> Result<(), ProtoDecodeError> {
    while !r.done() {
        match r.key()? {
            (1, w) => push_refs(&mut r, w, &mut s.labels_refs)?,
            (2, LEN) => samples.push(r.len_delimited()?.sample()?),
            (3, LEN) => histograms.push(HistSrc::Wire(r.len_delimited()?.buf)),
            (4, LEN) => {
                let mut er = r.len_delimited()?;
                let start = s.exemplar_refs.len();
                let (mut value, mut t) = (0f64, 0i64);
                while !er.done() {
                    match er.key()? {
                        (1, w) => push_refs(&mut er, w, &mut s.exemplar_refs)?,
                        (2, FIXED64) => value = f64::from_bits(er.fixed64()?),
                        (3, VARINT) => t = er.varint()? as i64,
                        (2 | 3, _) => return Err(er.err("wrong wire type for Exemplar field")),
                        (_, w) => er.skip(w)?,
                    }
                }
                s.exemplars.push(((start, s.exemplar_refs.len()), value, t));
            }
            (5, LEN) => {
                // A repeated embedded message merges into the first.
                let (mut kind, mut help, mut unit) = s.metadata.unwrap_or_default();
                let mut mr = r.len_delimited()?;
                while !mr.done() {
                    match mr.key()? {
                        (1, VARINT) => kind = mr.varint()? as i32,
                        (3, VARINT) => help = mr.varint()? as u32,
                        (4, VARINT) => unit = mr.varint()? as u32,
                        (1 | 3 | 4, _) => return Err(mr.err("wrong wire type for Metadata field")),
                        (_, w) => mr.skip(w)?,
                    }
                }
                s.metadata = Some((kind, help, unit));
            }
            (6, VARINT) => s.created_timestamp = r.varint()? as i64,
            (2..=6, _) => return Err(r.err("wrong wire type for TimeSeries field")),
            (_, w) => r.skip(w)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v2::{Exemplar, Histogram, Metadata, Sample as PSample, TimeSeries};
    use proptest::prelude::*;
    use prost::Message;

    proptest! {
        #[test]
        fn matches_prost(
            symbols in prop::collection::vec("\\PC{0,6}", 0..8),
            series in prop::collection::vec((
                prop::collection::vec(0u32..10, 0..7),
                prop::collection::vec((any::<i64>(), any::<f64>()), 0..4),
                0..2usize,
                prop::collection::vec((prop::collection::vec(0u32..10, 0..3), any::<f64>(), any::<i64>()), 0..2),
                prop::option::of((0i32..8, 0u32..10, 0u32..10)),
                any::<i64>(),
            ), 0..6),
        ) {
            let req = Request {
                symbols,
                timeseries: series.iter().map(|(refs, samples, hist, ex, meta, ct)| TimeSeries {
                    labels_refs: refs.clone(),
                    samples: samples.iter().map(|&(timestamp, value)| PSample { value, timestamp }).collect(),
                    histograms: (0..*hist).map(|i| Histogram { sum: 1.0, schema: 3, timestamp: i as i64, count_int: Some(2), ..Default::default() }).collect(),
                    exemplars: ex.iter().map(|(r, v, t)| Exemplar { labels_refs: r.clone(), value: *v, timestamp: *t }).collect(),
                    metadata: meta.map(|(t, h, u)| Metadata { r#type: t, help_ref: h, unit_ref: u }),
                    created_timestamp: *ct,
                }).collect(),
            };
            let bytes = req.encode_to_vec();
            let flat = FlatRequest::decode_v2(&bytes).unwrap();
            let decoded = Request::decode(&bytes[..]).unwrap();
            prop_assert!(super::super::tests::flat_eq(&flat, &FlatRequest::from_proto_v2(&decoded)));
            for cut in [bytes.len() / 2, bytes.len().saturating_sub(1)] {
                prop_assert_eq!(FlatRequest::decode_v2(&bytes[..cut]).is_ok(), Request::decode(&bytes[..cut]).is_ok());
            }
        }
    }

    #[test]
    fn resolves_symbols_and_refuses_bad_references_per_series() {
        let req = Request {
            symbols: vec!["".into(), "__name__".into(), "http.server.duration".into(), "k.x".into(), "v".into()],
            timeseries: vec![
                TimeSeries {
                    labels_refs: vec![1, 2, 3, 4],
                    samples: vec![PSample { value: 1.5, timestamp: 10 }],
                    metadata: Some(Metadata { r#type: 1, help_ref: 4, unit_ref: 0 }),
                    created_timestamp: 5,
                    ..Default::default()
                },
                TimeSeries { labels_refs: vec![1, 99], ..Default::default() },
                TimeSeries { labels_refs: vec![1], ..Default::default() },
            ],
        };
        let bytes = req.encode_to_vec();
        let flat = FlatRequest::decode_v2(&bytes).unwrap();
        assert_eq!(flat.labels(&flat.series[0]), [("__name__", "http.server.duration"), ("k.x", "v")]);
        assert_eq!(flat.samples(&flat.series[0])[0].t, 10);
        assert_eq!(flat.series[0].created_timestamp, 5);
        assert_eq!(flat.metadata, [FlatMetadata { family: "http.server.duration", kind: 1, help: "v", unit: "" }]);
        assert!(flat.series[1].invalid_refs.unwrap().contains("outside the symbols table"));
        assert!(flat.series[2].invalid_refs.unwrap().contains("odd number"));
        // A 1.0 body read as 2.0 is an empty request (tags 1-3 are reserved).
        let v1 =
            crate::proto::WriteRequest { timeseries: vec![crate::proto::TimeSeries::default()], ..Default::default() };
        assert!(FlatRequest::decode_v2(&v1.encode_to_vec()).unwrap().series.is_empty());
    }
}
