//! Answer encodings: JSON rows (default), CSV, an Arrow IPC stream and
//! Parquet.
//!
//! JSON: `{"status":"success","data":{"columns":[{"name":…,"type":…}],
//! "rows":[{"column":value,…},…]}}`; nulls are explicit, timestamps are
//! RFC 3339 strings in UTC.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::StreamWriter;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// An answer encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON rows in the query API's envelope.
    Json,
    /// CSV with a header line.
    Csv,
    /// An Arrow IPC stream.
    Arrow,
    /// A Parquet file.
    Parquet,
}

impl Format {
    /// Parses a `format` parameter (`None`: JSON).
    pub fn parse(s: Option<&str>) -> Result<Self> {
        match s.unwrap_or("json") {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "arrow" => Ok(Format::Arrow),
            "parquet" => Ok(Format::Parquet),
            other => Err(Error::BadRequest(format!(
                "invalid parameter \"format\": {other:?}: want json, csv, arrow or parquet"
            ))),
        }
    }

    /// The name shown in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Arrow => "arrow",
            Format::Parquet => "parquet",
        }
    }

    /// The HTTP content type of the encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// `batches` of `schema` in this encoding.
    pub fn encode(self, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
        let err = |e: &dyn std::fmt::Display| Error::Encode { format: self.as_str(), message: e.to_string() };
        match self {
            Format::Json => json(schema, batches).map_err(|e| err(&e)),
            Format::Csv => {
                let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(Vec::new());
                for b in batches {
                    w.write(b).map_err(|e| err(&e))?;
                }
                Ok(w.into_inner())
            }
            Format::Arrow => {
                let mut w = StreamWriter::try_new(Vec::new(), schema).map_err(|e| err(&e))?;
                for b in batches {
                    w.write(b).map_err(|e| err(&e))?;
                }
                w.into_inner().map_err(|e| err(&e))
            }
            Format::Parquet => {
                let mut w = parquet_writer(Vec::new(), schema.clone()).map_err(|e| err(&e))?;
                for b in batches {
                    w.write(b).map_err(|e| err(&e))?;
                }
                w.into_inner().map_err(|e| err(&e))
            }
        }
    }
}

/// A Parquet writer of `schema` (zstd; dictionary-encoded labels stay
/// dictionaries).
pub fn parquet_writer<W: std::io::Write + Send>(out: W, schema: SchemaRef) -> parquet::errors::Result<ArrowWriter<W>> {
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    ArrowWriter::try_new(out, schema, Some(props))
}

fn json(schema: &SchemaRef, batches: &[RecordBatch]) -> std::result::Result<Vec<u8>, Box<dyn std::error::Error>> {
    use datafusion::arrow::json::writer::{JsonArray, WriterBuilder};
    let columns: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
        .collect();
    let mut rows = Vec::new();
    {
        let mut w = WriterBuilder::new().with_explicit_nulls(true).build::<_, JsonArray>(&mut rows);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        w.write_batches(&refs)?;
        w.finish()?;
    }
    if rows.is_empty() {
        rows.extend_from_slice(b"[]");
    }
    let mut out = br#"{"status":"success","data":{"columns":"#.to_vec();
    serde_json::to_writer(&mut out, &columns)?;
    out.extend_from_slice(br#","rows":"#);
    out.extend_from_slice(&rows);
    out.extend_from_slice(b"}}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn every_format_encodes_and_json_has_the_envelope() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("v", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(Float64Array::from(vec![Some(0.5), None]))],
        )
        .unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&Format::Json.encode(&schema, std::slice::from_ref(&batch)).unwrap()).unwrap();
        assert_eq!(json["data"]["rows"][1], serde_json::json!({"n": 2, "v": null}));
        assert_eq!(json["data"]["columns"][0]["name"], "n");
        let empty: serde_json::Value = serde_json::from_slice(&Format::Json.encode(&schema, &[]).unwrap()).unwrap();
        assert_eq!(empty["data"]["rows"], serde_json::json!([]));
        let csv = String::from_utf8(Format::Csv.encode(&schema, std::slice::from_ref(&batch)).unwrap()).unwrap();
        assert_eq!(csv, "n,v\n1,0.5\n2,\n");
        for f in [Format::Arrow, Format::Parquet] {
            assert!(!f.encode(&schema, std::slice::from_ref(&batch)).unwrap().is_empty());
        }
        assert!(Format::parse(Some("xml")).is_err());
    }
}
