//! The annotations of version 5 records: the exemplars of the record's
//! series and metric metadata (type, help, unit), so that ingesters rebuild
//! them on replay like samples. Layout: `common/docs/format/log-record.md`
//! ("Version 5"). The same two sections make up a tenant in the ingester's
//! annotation snapshot (`common/docs/format/annotations-snapshot.md`).

use crate::exemplar::Exemplar;
use crate::labels::{Label, Labels};
use crate::metadata::{MetricMetadata, metric_type_name, metric_type_number};
use crate::record::encode_label_pairs;
use crate::varint::{Cursor, put_uvarint};

/// Exemplars and metadata carried by one record (or one snapshot tenant).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    /// Per series (its labels), its exemplars in the order written.
    pub exemplars: Vec<(Labels, Vec<Exemplar>)>,
    /// Metric family name and one metadata entry.
    pub metadata: Vec<(String, MetricMetadata)>,
}

impl Annotations {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.exemplars.is_empty() && self.metadata.is_empty()
    }
}

/// Builds the two sections.
#[derive(Debug, Default)]
pub(crate) struct AnnotationWriter {
    exemplars: Vec<u8>,
    exemplar_series: u64,
    metadata: Vec<u8>,
    metadata_entries: u64,
}

impl AnnotationWriter {
    /// Adds one series' exemplars (`labels` sorted by name, unique names).
    pub(crate) fn push_exemplars<'a>(
        &mut self,
        labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
        exemplars: &[Exemplar],
    ) {
        let buf = &mut self.exemplars;
        put_uvarint(buf, labels.len() as u64);
        encode_label_pairs(buf, labels);
        put_uvarint(buf, exemplars.len() as u64);
        for e in exemplars {
            buf.extend_from_slice(&e.t.to_le_bytes());
            buf.extend_from_slice(&e.value.to_bits().to_le_bytes());
            put_uvarint(buf, e.labels.len() as u64);
            encode_label_pairs(buf, e.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
        }
        self.exemplar_series += 1;
    }

    /// Adds one metadata entry of metric family `family`.
    pub(crate) fn push_metadata(&mut self, family: &str, entry: &MetricMetadata) {
        let buf = &mut self.metadata;
        put_uvarint(buf, family.len() as u64);
        buf.extend_from_slice(family.as_bytes());
        buf.push(metric_type_number(entry.kind));
        for s in [&entry.help, &entry.unit] {
            put_uvarint(buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
        }
        self.metadata_entries += 1;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.exemplar_series == 0 && self.metadata_entries == 0
    }

    pub(crate) fn byte_len(&self) -> usize {
        self.exemplars.len() + self.metadata.len()
    }

    /// Appends both sections: `uv exemplar series count, series…, uv
    /// metadata entry count, entries…`.
    pub(crate) fn finish_into(&self, out: &mut Vec<u8>) {
        put_uvarint(out, self.exemplar_series);
        out.extend_from_slice(&self.exemplars);
        put_uvarint(out, self.metadata_entries);
        out.extend_from_slice(&self.metadata);
    }
}

/// Encodes `a` as the two sections (what [`AnnotationWriter::finish_into`] writes).
pub fn encode(a: &Annotations, out: &mut Vec<u8>) {
    let mut w = AnnotationWriter::default();
    for (labels, ex) in &a.exemplars {
        w.push_exemplars(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())), ex);
    }
    for (family, entry) in &a.metadata {
        w.push_metadata(family, entry);
    }
    w.finish_into(out);
}

/// Reads `n` label pairs into a label set (sorted by the writer; checked).
fn labels(c: &mut Cursor<'_>, n: usize) -> Option<Labels> {
    let mut out: Vec<Label> = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let l = Label::new(c.str()?, c.str()?);
        if out.last().is_some_and(|p| p.name >= l.name) {
            return None; // not sorted or not unique
        }
        out.push(l);
    }
    Some(Labels::from_sorted(out))
}

/// Decodes the two sections at `c`; `None` if truncated or malformed.
pub fn decode(c: &mut Cursor<'_>) -> Option<Annotations> {
    let mut a = Annotations::default();
    let series = c.uvarint()?;
    for _ in 0..series {
        let n = c.uvarint_usize()?;
        let series_labels = labels(c, n)?;
        let count = c.uvarint_usize()?;
        let mut ex = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let t = c.u64_le()? as i64;
            let value = f64::from_bits(c.u64_le()?);
            let n = c.uvarint_usize()?;
            ex.push(Exemplar { labels: labels(c, n)?, value, t });
        }
        a.exemplars.push((series_labels, ex));
    }
    let entries = c.uvarint()?;
    for _ in 0..entries {
        let family = c.str()?.to_string();
        let kind = metric_type_name(i32::from(*c.bytes(1)?.first()?));
        let help = c.str()?.to_string();
        let unit = c.str()?.to_string();
        a.metadata.push((family, MetricMetadata { kind, help, unit }));
    }
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let a = Annotations {
            exemplars: vec![(
                Labels::from_pairs([("__name__", "http.server.duration"), ("job", "a")]).unwrap(),
                vec![
                    Exemplar { labels: Labels::from_pairs([("trace_id", "abc")]).unwrap(), value: 0.25, t: 1000 },
                    Exemplar { labels: Labels::empty(), value: f64::NAN, t: -5 },
                ],
            )],
            metadata: vec![(
                "http.server.duration".into(),
                MetricMetadata { kind: "histogram", help: "latency".into(), unit: "s".into() },
            )],
        };
        let mut buf = Vec::new();
        encode(&a, &mut buf);
        let got = decode(&mut Cursor::new(&buf)).unwrap();
        assert_eq!(got.metadata, a.metadata);
        assert_eq!(got.exemplars[0].0, a.exemplars[0].0);
        assert_eq!(got.exemplars[0].1[0], a.exemplars[0].1[0]);
        assert!(got.exemplars[0].1[1].value.is_nan());
        for cut in 0..buf.len() {
            assert!(decode(&mut Cursor::new(&buf[..cut])).is_none(), "cut at {cut}");
        }
    }
}
