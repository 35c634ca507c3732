//! The head-read protocol on the wire: how a querier process asks an
//! ingester process for its heads over HTTP (`strata querier` ↔
//! `strata ingester`). The layout is specified in
//! `common/docs/format/head-protocol.md`; this module is its only encoder
//! and decoder.
//!
//! - Requests are JSON ([`WireReadRequest`], [`WireLabelsRequest`]).
//! - A series read is answered with an **Arrow IPC stream**: one row per
//!   series, columns `label_names`/`label_values` (`List<Utf8>`),
//!   `timestamps` (`List<Int64>`) and `values` (`List<Float64>`), in batches
//!   of at most [`SERIES_PER_BATCH`] rows; the base offsets travel in the
//!   schema metadata (`strata.base_offsets`, JSON `[[partition, offset], …]`)
//!   so they are known before the first series.
//!   The answer is written and read as a stream: [`ReadStreamEncoder`]
//!   (with [`encode_read_stream`]) hands out each encoded batch as soon as
//!   it is built, batches are cut at [`SAMPLES_PER_BATCH`] samples as well,
//!   and [`ReadStreamDecoder`] turns each batch into series as its bytes
//!   arrive, so neither side holds a whole encoded answer.
//! - Label, estimate and progress answers are JSON (small).

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{ArrayRef, Float64Array, Int64Array, ListArray, RecordBatch};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::{HeadReadResponse, HeadSeries, LabelsRequest, SelectRequest, StepHint};
use crate::error::{Error, Result};
use crate::ids::{Offset, PartitionId};
use crate::labels::{Label, Labels};
use crate::matcher::{MatchOp, Matcher};
use crate::sample::{Sample, Timestamp};
use crate::tenant::TenantId;

/// Path of the series read (JSON [`WireReadRequest`] → Arrow IPC stream).
pub const READ_PATH: &str = "/internal/v1/head/read";
/// Path of the label names/values read (JSON [`WireLabelsRequest`] → JSON).
pub const LABELS_PATH: &str = "/internal/v1/head/labels";
/// Path of the selection estimate (JSON [`WireReadRequest`] → JSON
/// [`SelectEstimate`](crate::select::SelectEstimate)).
pub const ESTIMATE_PATH: &str = "/internal/v1/head/estimate";
/// Path of the consumption progress (JSON list of partition progress).
pub const PROGRESS_PATH: &str = "/internal/v1/head/progress";

/// Version of this protocol; sent as schema metadata `strata.head_protocol`
/// and checked by the reader.
pub const HEAD_PROTOCOL_VERSION: &str = "1";
/// Version 1 plus two columns of native histograms (`hist_timestamps`,
/// `histograms`); sent only by answers that carry histograms, so
/// float-only answers stay readable by version-1 queriers.
pub const HEAD_PROTOCOL_VERSION_2: &str = "2";
/// The media type of a series-read answer.
pub const ARROW_STREAM_CONTENT_TYPE: &str = "application/vnd.apache.arrow.stream";
/// At most this many series per record batch.
pub const SERIES_PER_BATCH: usize = 1024;
/// At most this many samples per record batch, unless one series alone has
/// more (about a megabyte of timestamps and values): see [`batch_ranges`].
pub const SAMPLES_PER_BATCH: usize = 65_536;

const META_VERSION: &str = "strata.head_protocol";
const META_BASE_OFFSETS: &str = "strata.base_offsets";

/// A matcher on the wire: `op` is one of `=`, `!=`, `=~`, `!~`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireMatcher {
    /// The label name.
    pub name: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: String,
    /// The value or regular expression.
    pub value: String,
}

impl From<&Matcher> for WireMatcher {
    fn from(m: &Matcher) -> Self {
        let op = match m.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        };
        Self { name: m.name.clone(), op: op.to_string(), value: m.value.clone() }
    }
}

impl WireMatcher {
    /// The matcher, compiled (an unknown operator or bad regex is an error).
    pub fn compile(&self) -> Result<Matcher> {
        let op = match self.op.as_str() {
            "=" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            "=~" => MatchOp::RegexMatch,
            "!~" => MatchOp::RegexNoMatch,
            other => return Err(Error::InvalidMatcher(format!("unknown matcher operator {other:?}"))),
        };
        Matcher::new(op, self.name.clone(), self.value.clone())
    }
}

fn compile_all(matchers: &[WireMatcher]) -> Result<Vec<Matcher>> {
    matchers.iter().map(WireMatcher::compile).collect()
}

/// [`SelectRequest`] as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireReadRequest {
    /// As [`SelectRequest::tenant`].
    pub tenant: TenantId,
    /// As [`SelectRequest::matchers`], uncompiled.
    pub matchers: Vec<WireMatcher>,
    /// As [`SelectRequest::min_t`].
    pub min_t: Timestamp,
    /// As [`SelectRequest::max_t`].
    pub max_t: Timestamp,
    /// As [`SelectRequest::with_samples`].
    pub with_samples: bool,
    /// As [`SelectRequest::steps`]; left out when `None` (an ingester that
    /// does not know the field ignores it and sends every sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<StepHint>,
}

impl From<&SelectRequest> for WireReadRequest {
    fn from(r: &SelectRequest) -> Self {
        Self {
            tenant: r.tenant.clone(),
            matchers: r.matchers.iter().map(WireMatcher::from).collect(),
            min_t: r.min_t,
            max_t: r.max_t,
            with_samples: r.with_samples,
            steps: r.steps,
        }
    }
}

impl WireReadRequest {
    /// The request with its matchers compiled (a bad regex is an error).
    pub fn into_request(self) -> Result<SelectRequest> {
        Ok(SelectRequest {
            matchers: compile_all(&self.matchers)?,
            tenant: self.tenant,
            min_t: self.min_t,
            max_t: self.max_t,
            with_samples: self.with_samples,
            steps: self.steps,
        })
    }
}

/// [`LabelsRequest`] as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireLabelsRequest {
    /// As [`LabelsRequest::tenant`].
    pub tenant: TenantId,
    /// As [`LabelsRequest::matchers`], uncompiled.
    pub matchers: Vec<WireMatcher>,
    /// As [`LabelsRequest::min_t`].
    pub min_t: Timestamp,
    /// As [`LabelsRequest::max_t`].
    pub max_t: Timestamp,
    /// As [`LabelsRequest::name`].
    pub name: Option<String>,
}

impl From<&LabelsRequest> for WireLabelsRequest {
    fn from(r: &LabelsRequest) -> Self {
        Self {
            tenant: r.tenant.clone(),
            matchers: r.matchers.iter().map(WireMatcher::from).collect(),
            min_t: r.min_t,
            max_t: r.max_t,
            name: r.name.clone(),
        }
    }
}

impl WireLabelsRequest {
    /// The request with its matchers compiled.
    pub fn into_request(self) -> Result<LabelsRequest> {
        Ok(LabelsRequest {
            matchers: compile_all(&self.matchers)?,
            tenant: self.tenant,
            min_t: self.min_t,
            max_t: self.max_t,
            name: self.name,
        })
    }
}

fn schema(base_offsets: &[(PartitionId, Offset)], histograms: bool) -> Result<Schema> {
    let list =
        |name: &str, item: DataType| Field::new(name, DataType::List(Arc::new(Field::new("item", item, false))), false);
    let offsets = serde_json::to_string(base_offsets).map_err(|e| Error::HeadProtocol(e.to_string()))?;
    let mut fields = vec![
        list("label_names", DataType::Utf8),
        list("label_values", DataType::Utf8),
        list("timestamps", DataType::Int64),
        list("values", DataType::Float64),
    ];
    if histograms {
        fields.push(list("hist_timestamps", DataType::Int64));
        fields.push(list("histograms", DataType::Binary));
    }
    let version = if histograms { HEAD_PROTOCOL_VERSION_2 } else { HEAD_PROTOCOL_VERSION };
    Ok(Schema::new(fields).with_metadata(
        [(META_VERSION.to_string(), version.to_string()), (META_BASE_OFFSETS.to_string(), offsets)].into(),
    ))
}

fn item_field(item: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", item, false))
}

fn arrow_err(e: arrow_schema::ArrowError) -> Error {
    Error::HeadProtocol(format!("head protocol (Arrow IPC): {e}"))
}

/// A list column whose item arrays are already built: `offsets[i]..offsets[i + 1]`
/// are row `i`'s items.
fn list_column(item: DataType, offsets: Vec<i32>, values: ArrayRef) -> Result<ArrayRef> {
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    Ok(Arc::new(ListArray::try_new(item_field(item), offsets, values, None).map_err(arrow_err)?))
}

/// Offsets of `series`' lists of `len(series)` items each, as Arrow `i32`
/// offsets (a batch holds far fewer than `i32::MAX` items: [`batch_ranges`]).
fn list_offsets<'a>(series: &'a [HeadSeries], len: impl Fn(&'a HeadSeries) -> usize) -> Result<Vec<i32>> {
    let mut offsets = Vec::with_capacity(series.len() + 1);
    let mut at = 0usize;
    offsets.push(0);
    for s in series {
        at += len(s);
        offsets.push(i32::try_from(at).map_err(|_| Error::HeadProtocol("head batch too large".into()))?);
    }
    Ok(offsets)
}

/// One record batch of `series`. The sample columns are built as whole
/// buffers (one pass per column, no per-value builder calls): they are
/// nearly all of an answer's bytes.
fn batch(schema: &Arc<Schema>, series: &[HeadSeries]) -> Result<RecordBatch> {
    let label_count: usize = series.iter().map(|s| s.labels.len()).sum();
    let mut names =
        ListBuilder::with_capacity(StringBuilder::with_capacity(label_count, label_count * 8), series.len())
            .with_field(item_field(DataType::Utf8));
    let mut values =
        ListBuilder::with_capacity(StringBuilder::with_capacity(label_count, label_count * 16), series.len())
            .with_field(item_field(DataType::Utf8));
    for s in series {
        for l in s.labels.iter() {
            names.values().append_value(&l.name);
            values.values().append_value(&l.value);
        }
        names.append(true);
        values.append(true);
    }
    let offsets = list_offsets(series, |s| s.samples.len())?;
    let total = offsets.last().map_or(0, |&n| n as usize);
    let (mut ts, mut vs) = (Vec::with_capacity(total), Vec::with_capacity(total));
    for s in series {
        ts.extend(s.samples.iter().map(|x| x.t));
        vs.extend(s.samples.iter().map(|x| x.v));
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(names.finish()),
        Arc::new(values.finish()),
        list_column(DataType::Int64, offsets.clone(), Arc::new(Int64Array::new(ScalarBuffer::from(ts), None)))?,
        list_column(DataType::Float64, offsets, Arc::new(Float64Array::new(ScalarBuffer::from(vs), None)))?,
    ];
    if schema.fields().len() == 6 {
        let mut hts = ListBuilder::new(Int64Builder::new()).with_field(item_field(DataType::Int64));
        let mut hs = ListBuilder::new(BinaryBuilder::new()).with_field(item_field(DataType::Binary));
        let mut buf = Vec::new();
        for s in series {
            for h in &s.histograms {
                hts.values().append_value(h.t);
                buf.clear();
                crate::histogram::codec::encode(&h.h, &mut buf);
                hs.values().append_value(&buf);
            }
            hts.append(true);
            hs.append(true);
        }
        columns.push(Arc::new(hts.finish()));
        columns.push(Arc::new(hs.finish()));
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_err)
}

/// The rows of each record batch: at most [`SERIES_PER_BATCH`] series and,
/// unless one series alone has more, at most [`SAMPLES_PER_BATCH`] samples
/// (floats and histograms), so a batch is at most about a megabyte and
/// the answer streams in pieces of bounded size.
pub fn batch_ranges(series: &[HeadSeries]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut samples) = (0, 0usize);
    for (i, s) in series.iter().enumerate() {
        let n = s.samples.len() + s.histograms.len();
        if i > start && (i - start == SERIES_PER_BATCH || samples + n > SAMPLES_PER_BATCH) {
            out.push(start..i);
            (start, samples) = (i, 0);
        }
        samples += n;
    }
    if start < series.len() {
        out.push(start..series.len());
    }
    out
}

/// Writes a series-read answer as an Arrow IPC stream, piece by piece: the
/// schema message (with the base offsets) first, then each record batch as
/// it is built, then the end-of-stream marker. Each piece goes to `emit`
/// as soon as it is encoded, so an ingester sends a large answer while it
/// still encodes it and never holds the whole encoding; an error from
/// `emit` (the querier went away) stops the encoding.
pub struct ReadStreamEncoder {
    schema: Arc<Schema>,
    writer: StreamWriter<Vec<u8>>,
}

impl std::fmt::Debug for ReadStreamEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadStreamEncoder").field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl ReadStreamEncoder {
    /// An encoder for an answer with `base_offsets`; `histograms` when some
    /// series has native histograms (version 2). The schema message is the
    /// first piece [`Self::take`] returns.
    pub fn new(base_offsets: &[(PartitionId, Offset)], histograms: bool) -> Result<Self> {
        let schema = Arc::new(schema(base_offsets, histograms)?);
        let writer = StreamWriter::try_new(Vec::new(), &schema).map_err(arrow_err)?;
        Ok(Self { schema, writer })
    }

    /// An encoder for `response`'s base offsets and histogram presence.
    pub fn for_response(response: &HeadReadResponse) -> Result<Self> {
        Self::new(&response.base_offsets, response.series.iter().any(|s| !s.histograms.is_empty()))
    }

    /// Encodes one record batch of `series` (sorted, at most
    /// [`SERIES_PER_BATCH`]).
    pub fn write(&mut self, series: &[HeadSeries]) -> Result<()> {
        let batch = batch(&self.schema, series)?;
        // Room for the whole message up front: no regrowth while writing.
        self.writer.get_mut().reserve(batch.get_array_memory_size() + 1024);
        self.writer.write(&batch).map_err(arrow_err)
    }

    /// Writes the end-of-stream marker.
    pub fn finish(&mut self) -> Result<()> {
        self.writer.finish().map_err(arrow_err)
    }

    /// The bytes encoded since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(self.writer.get_mut())
    }
}

/// Encodes `response` with `encoder` (made by
/// [`ReadStreamEncoder::for_response`]; its schema not yet taken or
/// already sent), passing each encoded piece (schema, batches, end marker)
/// to `emit` as soon as it is ready.
pub fn encode_read_stream(
    response: &HeadReadResponse,
    mut encoder: ReadStreamEncoder,
    mut emit: impl FnMut(Vec<u8>) -> Result<()>,
) -> Result<()> {
    let first = encoder.take();
    if !first.is_empty() {
        emit(first)?;
    }
    for range in batch_ranges(&response.series) {
        encoder.write(&response.series[range])?;
        emit(encoder.take())?;
    }
    encoder.finish()?;
    emit(encoder.take())
}

/// Encodes a series-read answer as an Arrow IPC stream, in one buffer
/// (the same bytes [`encode_read_stream`] hands out in pieces).
pub fn encode_read_response(response: &HeadReadResponse) -> Result<Vec<u8>> {
    let mut encoder = ReadStreamEncoder::for_response(response)?;
    for range in batch_ranges(&response.series) {
        encoder.write(&response.series[range])?;
    }
    encoder.finish()?;
    Ok(encoder.take())
}

/// Decodes an Arrow IPC stream written by [`encode_read_response`]; checks
/// the protocol version and the column types.
pub fn decode_read_response(body: &[u8]) -> Result<HeadReadResponse> {
    let mut decoder = ReadStreamDecoder::new();
    decoder.push(Buffer::from(body))?;
    decoder.finish()
}

/// Decodes a series-read answer as its bytes arrive: [`Self::push`] each
/// piece of the body (any split), then [`Self::finish`]. Each record
/// batch becomes series as soon as its last byte is pushed, so the
/// encoded answer is never held whole, only the decoded series.
#[derive(Debug, Default)]
pub struct ReadStreamDecoder {
    decoder: StreamDecoder,
    /// 4 or 6 once the schema is read and checked.
    columns: Option<usize>,
    base_offsets: Vec<(PartitionId, Offset)>,
    series: Vec<HeadSeries>,
}

impl ReadStreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes what `piece` completes.
    pub fn push(&mut self, piece: impl Into<Buffer>) -> Result<()> {
        let mut piece = piece.into();
        while !piece.is_empty() {
            let batch = self.decoder.decode(&mut piece).map_err(arrow_err)?;
            if self.columns.is_none()
                && let Some(schema) = self.decoder.schema()
            {
                self.read_schema(&schema)?;
            }
            if let Some(batch) = batch {
                let columns = self.columns.ok_or_else(|| bad("a record batch before the schema".into()))?;
                decode_batch(&batch, columns, &mut self.series)?;
            }
        }
        Ok(())
    }

    /// Series decoded so far (sorted by labels, as sent).
    pub fn decoded_series(&self) -> usize {
        self.series.len()
    }

    /// The answer, once the whole body was pushed: an error if the stream
    /// stopped before its end-of-stream marker (a truncated answer is never
    /// taken for a complete one).
    pub fn finish(mut self) -> Result<HeadReadResponse> {
        self.decoder.finish().map_err(arrow_err)?;
        if self.columns.is_none() {
            return Err(bad("the answer ended before its schema".into()));
        }
        // `finish` accepts a stream cut between two messages; past the
        // end-of-stream marker, though, the decoder refuses any byte.
        if self.decoder.decode(&mut Buffer::from(&[0u8][..])).is_ok() {
            return Err(bad("the answer ended without its end-of-stream marker (truncated)".into()));
        }
        Ok(HeadReadResponse { series: self.series, base_offsets: self.base_offsets })
    }

    fn read_schema(&mut self, schema: &Schema) -> Result<()> {
        let meta = schema.metadata();
        let columns = match meta.get(META_VERSION).map(String::as_str) {
            Some(HEAD_PROTOCOL_VERSION) => 4,
            Some(HEAD_PROTOCOL_VERSION_2) => 6,
            other => return Err(bad(format!("unsupported head protocol version {other:?}"))),
        };
        self.base_offsets = meta
            .get(META_BASE_OFFSETS)
            .map(|s| serde_json::from_str(s))
            .transpose()
            .map_err(|e| bad(format!("bad base offsets: {e}")))?
            .ok_or_else(|| bad("missing base offsets".to_string()))?;
        self.columns = Some(columns);
        Ok(())
    }
}

fn bad(msg: String) -> Error {
    Error::HeadProtocol(format!("head protocol: {msg}"))
}

/// Appends the series of one record batch (`columns` wide) to `series`.
fn decode_batch(batch: &RecordBatch, columns: usize, series: &mut Vec<HeadSeries>) -> Result<()> {
    if batch.num_columns() != columns {
        return Err(bad(format!("expected {columns} columns, got {}", batch.num_columns())));
    }
    let list = |i: usize| batch.column(i).as_list_opt::<i32>().ok_or_else(|| bad(format!("column {i} is not a list")));
    let (names, values, ts, vs) = (list(0)?, list(1)?, list(2)?, list(3)?);
    let name_strings = names.values().as_string_opt::<i32>().ok_or_else(|| bad("label_names".into()))?;
    let value_strings = values.values().as_string_opt::<i32>().ok_or_else(|| bad("label_values".into()))?;
    let t_values = ts.values().as_primitive_opt::<Int64Type>().ok_or_else(|| bad("timestamps".into()))?.values();
    let v_values = vs.values().as_primitive_opt::<Float64Type>().ok_or_else(|| bad("values".into()))?.values();
    series.reserve(batch.num_rows());
    for row in 0..batch.num_rows() {
        let (l0, l1) = (names.value_offsets()[row] as usize, names.value_offsets()[row + 1] as usize);
        let (k0, k1) = (values.value_offsets()[row] as usize, values.value_offsets()[row + 1] as usize);
        if l1 - l0 != k1 - k0 {
            return Err(bad(format!("row {row}: {} label names but {} values", l1 - l0, k1 - k0)));
        }
        let labels = (0..l1 - l0)
            .map(|i| Label::new(name_strings.value(l0 + i), value_strings.value(k0 + i)))
            .collect::<Vec<_>>();
        let (s0, s1) = (ts.value_offsets()[row] as usize, ts.value_offsets()[row + 1] as usize);
        let (w0, w1) = (vs.value_offsets()[row] as usize, vs.value_offsets()[row + 1] as usize);
        if s1 - s0 != w1 - w0 {
            return Err(bad(format!("row {row}: {} timestamps but {} values", s1 - s0, w1 - w0)));
        }
        let samples = t_values[s0..s1].iter().zip(&v_values[w0..w1]).map(|(&t, &v)| Sample::new(t, v)).collect();
        let histograms = if columns == 6 { decode_histograms(batch, row)? } else { Vec::new() };
        series.push(HeadSeries { labels: Labels::from_sorted(labels), samples, histograms });
    }
    Ok(())
}

/// The histograms of `row` in a version-2 batch (columns 4 and 5).
fn decode_histograms(batch: &RecordBatch, row: usize) -> Result<Vec<crate::histogram::HistSample>> {
    let bad = |msg: &str| Error::HeadProtocol(format!("head protocol: row {row}: {msg}"));
    let hts = batch.column(4).as_list_opt::<i32>().ok_or_else(|| bad("hist_timestamps is not a list"))?;
    let hs = batch.column(5).as_list_opt::<i32>().ok_or_else(|| bad("histograms is not a list"))?;
    let t_values = hts.values().as_primitive_opt::<Int64Type>().ok_or_else(|| bad("hist_timestamps"))?;
    let h_values = hs.values().as_binary_opt::<i32>().ok_or_else(|| bad("histograms"))?;
    let (t0, t1) = (hts.value_offsets()[row] as usize, hts.value_offsets()[row + 1] as usize);
    let (h0, h1) = (hs.value_offsets()[row] as usize, hs.value_offsets()[row + 1] as usize);
    if t1 - t0 != h1 - h0 {
        return Err(bad("histogram timestamps and histograms differ in number"));
    }
    (0..t1 - t0)
        .map(|i| {
            let mut c = crate::varint::Cursor::new(h_values.value(h0 + i));
            let h = crate::histogram::codec::decode(&mut c).ok_or_else(|| bad("malformed histogram"))?;
            Ok(crate::histogram::HistSample::new(t_values.value(t0 + i), h))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Cursor;

    use arrow_ipc::reader::StreamReader;

    use super::*;

    fn series(name: &str, n: usize) -> HeadSeries {
        HeadSeries {
            labels: Labels::from_pairs([("__name__", name), ("job", "api")]).unwrap(),
            samples: (0..n).map(|i| Sample::new(i as i64 * 1000, i as f64 * 0.5)).collect(),
            histograms: Vec::new(),
        }
    }

    /// Answers with histograms are version 2 and carry them across
    /// batches; float-only answers stay version 1.
    #[test]
    fn histograms_travel_in_version_2_answers() {
        use crate::histogram::{HistSample, Histogram, Span};
        let h = |n: f64| Histogram {
            integer: true,
            count: n,
            sum: n,
            positive_spans: vec![Span { offset: -1, length: 1 }],
            positive_buckets: vec![n],
            ..Histogram::default()
        };
        let mut all: Vec<HeadSeries> = (0..SERIES_PER_BATCH + 3).map(|i| series(&format!("m{i:05}"), i % 2)).collect();
        all[1].histograms = vec![HistSample::new(5, h(1.0)), HistSample::new(6, Histogram::stale_marker())];
        all[SERIES_PER_BATCH + 1].histograms = vec![HistSample::new(7, h(2.0))];
        let resp = HeadReadResponse { series: all.clone(), base_offsets: vec![(0, 3)] };
        let bytes = encode_read_response(&resp).unwrap();
        let back = decode_read_response(&bytes).unwrap();
        assert_eq!(back.series.len(), all.len());
        assert_eq!(back.series[1].histograms.len(), 2);
        assert_eq!(*back.series[1].histograms[0].h, h(1.0));
        assert!(back.series[1].histograms[1].h.is_stale());
        assert_eq!(back.series[SERIES_PER_BATCH + 1].histograms, all[SERIES_PER_BATCH + 1].histograms);
        assert!(back.series[0].histograms.is_empty());
        let reader = StreamReader::try_new(Cursor::new(&bytes[..]), None).unwrap();
        assert_eq!(reader.schema().metadata()[META_VERSION], HEAD_PROTOCOL_VERSION_2);
        let floats =
            encode_read_response(&HeadReadResponse { series: all[..1].to_vec(), base_offsets: vec![] }).unwrap();
        let reader = StreamReader::try_new(Cursor::new(&floats[..]), None).unwrap();
        assert_eq!(reader.schema().metadata()[META_VERSION], HEAD_PROTOCOL_VERSION);
    }

    #[test]
    fn read_response_round_trips_across_batches() {
        let mut all: Vec<HeadSeries> = (0..SERIES_PER_BATCH + 7).map(|i| series(&format!("m{i:05}"), i % 5)).collect();
        all[3].samples.push(Sample::new(99_000, f64::from_bits(crate::sample::STALE_NAN_BITS)));
        all[4].labels = Labels::empty();
        let response = HeadReadResponse { series: all, base_offsets: vec![(0, 17), (3, 0), (5, u64::MAX)] };
        let decoded = decode_read_response(&encode_read_response(&response).unwrap()).unwrap();
        assert_eq!(decoded.base_offsets, response.base_offsets);
        assert_eq!(decoded.series.len(), response.series.len());
        for (a, b) in decoded.series.iter().zip(&response.series) {
            assert_eq!(a.labels, b.labels);
            let bits = |s: &[Sample]| s.iter().map(|x| (x.t, x.v.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&a.samples), bits(&b.samples), "bit-exact values (stale NaN included)");
        }
    }

    fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
        s.iter().map(|x| (x.t, x.v.to_bits())).collect()
    }

    /// Large answers are cut into batches of bounded samples and decode the
    /// same whichever way the bytes are split on the way.
    #[test]
    fn streamed_pieces_decode_whatever_their_split() {
        let mut all: Vec<HeadSeries> = (0..300).map(|i| series(&format!("m{i:05}"), 700)).collect();
        all.push(series("z_big", SAMPLES_PER_BATCH + 5));
        let response = HeadReadResponse { series: all, base_offsets: vec![(0, 9)] };
        let ranges = batch_ranges(&response.series);
        assert!(ranges.len() > 3, "{ranges:?}");
        for r in &ranges {
            let n: usize = response.series[r.clone()].iter().map(|s| s.samples.len()).sum();
            assert!(n <= SAMPLES_PER_BATCH || r.len() == 1, "{r:?}: {n} samples");
            assert!(r.len() <= SERIES_PER_BATCH);
        }
        let mut pieces = Vec::new();
        encode_read_stream(&response, ReadStreamEncoder::for_response(&response).unwrap(), |p| {
            pieces.push(p);
            Ok(())
        })
        .unwrap();
        assert_eq!(pieces.len(), ranges.len() + 2, "schema, one piece per batch, end marker");
        let whole: Vec<u8> = pieces.concat();
        assert_eq!(whole, encode_read_response(&response).unwrap());
        for split in [1usize, 7, 4096, 1 << 20] {
            let mut decoder = ReadStreamDecoder::new();
            for chunk in whole.chunks(split) {
                decoder.push(Buffer::from(chunk)).unwrap();
            }
            let back = decoder.finish().unwrap();
            assert_eq!(back.base_offsets, response.base_offsets);
            assert_eq!(back.series.len(), response.series.len());
            for (a, b) in back.series.iter().zip(&response.series) {
                assert_eq!((&a.labels, bits(&a.samples)), (&b.labels, bits(&b.samples)));
            }
        }
        // The standard reader agrees (old queriers read streamed answers).
        let rows: usize =
            StreamReader::try_new(Cursor::new(&whole[..]), None).unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, response.series.len());
    }

    /// A stream cut anywhere, even between two messages, is an error, never
    /// a shorter answer.
    #[test]
    fn truncated_streams_are_errors() {
        let response = HeadReadResponse {
            series: (0..3).map(|i| series(&format!("m{i}"), 40_000)).collect(),
            base_offsets: vec![],
        };
        let mut pieces = Vec::new();
        encode_read_stream(&response, ReadStreamEncoder::for_response(&response).unwrap(), |p| {
            pieces.push(p);
            Ok(())
        })
        .unwrap();
        let whole = pieces.concat();
        let boundary: usize = pieces[..pieces.len() - 1].iter().map(Vec::len).sum();
        for cut in [0, 5, pieces[0].len(), pieces[0].len() + 100, boundary, whole.len() - 1] {
            let mut decoder = ReadStreamDecoder::new();
            decoder.push(Buffer::from(&whole[..cut])).unwrap();
            let err = decoder.finish().unwrap_err();
            assert!(matches!(err, Error::HeadProtocol(_)), "cut at {cut}: {err}");
        }
        assert!(decode_read_response(&whole).is_ok());
    }

    /// The encoding stops at the first piece the receiver refuses.
    #[test]
    fn a_refused_piece_stops_the_encoding() {
        let response = HeadReadResponse {
            series: (0..4).map(|i| series(&format!("m{i}"), 40_000)).collect(),
            base_offsets: vec![],
        };
        let mut sent = 0;
        let err = encode_read_stream(&response, ReadStreamEncoder::for_response(&response).unwrap(), |_| {
            sent += 1;
            if sent == 2 { Err(Error::HeadProtocol("gone".into())) } else { Ok(()) }
        })
        .unwrap_err();
        assert!(err.to_string().contains("gone"));
        assert_eq!(sent, 2);
    }

    #[test]
    fn empty_answer_still_carries_base_offsets() {
        let response = HeadReadResponse { series: vec![], base_offsets: vec![(1, 2)] };
        let decoded = decode_read_response(&encode_read_response(&response).unwrap()).unwrap();
        assert!(decoded.series.is_empty());
        assert_eq!(decoded.base_offsets, vec![(1, 2)]);
    }

    #[test]
    fn garbage_and_wrong_versions_are_errors() {
        assert!(decode_read_response(b"not arrow").is_err());
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let mut w = StreamWriter::try_new(Vec::new(), &schema).unwrap();
        w.finish().unwrap();
        let err = decode_read_response(&w.into_inner().unwrap()).unwrap_err();
        assert!(err.to_string().contains("version"), "{err}");
    }

    #[test]
    fn requests_round_trip_through_json() {
        let req = SelectRequest {
            tenant: TenantId::new("t1").unwrap(),
            matchers: vec![
                Matcher::equal("__name__", "up"),
                Matcher::new(MatchOp::RegexNoMatch, "job", "a|b").unwrap(),
            ],
            min_t: -5,
            max_t: 10,
            with_samples: true,
            steps: Some(StepHint { first: 0, last: 10, step: 5, range: 2, latest_only: true }),
        };
        let json = serde_json::to_vec(&WireReadRequest::from(&req)).unwrap();
        let back = serde_json::from_slice::<WireReadRequest>(&json).unwrap().into_request().unwrap();
        assert_eq!(back.tenant, req.tenant);
        assert_eq!((back.min_t, back.max_t, back.with_samples), (-5, 10, true));
        assert_eq!(back.steps, req.steps);
        // Without a hint the field is left out, as older queriers send it.
        let plain = serde_json::to_string(&WireReadRequest::from(&req.clone().with_steps(None))).unwrap();
        assert!(!plain.contains("steps"), "{plain}");
        assert_eq!(serde_json::from_str::<WireReadRequest>(&plain).unwrap().steps, None);
        assert_eq!(back.matchers.len(), 2);
        assert!(back.matchers[1].matches("c") && !back.matchers[1].matches("a"));
        let bad = WireReadRequest {
            matchers: vec![WireMatcher { name: "a".into(), op: "~".into(), value: "".into() }],
            ..WireReadRequest::from(&req)
        };
        assert!(bad.into_request().is_err());
    }
}
