//! Builds Arrow record batches from series: each series adds a run of rows
//! whose label columns are constant, so a label column is a dictionary whose
//! keys repeat one entry per series (no per-row hashing or string copies).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, NullBufferBuilder, RecordBatch, RecordBatchOptions,
    StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{Int32Type, SchemaRef};
use datafusion::arrow::error::ArrowError;
use strata_common::sample::is_stale_nan;
use strata_common::{Labels, Sample};

/// What one output column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    /// The value of a label (null when the series lacks it).
    Label(String),
    /// The sample time.
    Timestamp,
    /// The sample value.
    Value,
}

/// One dictionary-encoded label column under construction.
struct LabelColumn {
    keys: Vec<i32>,
    nulls: NullBufferBuilder,
    values: Vec<String>,
    index: HashMap<String, i32>,
}

impl Default for LabelColumn {
    fn default() -> Self {
        Self { keys: Vec::new(), nulls: NullBufferBuilder::new(0), values: Vec::new(), index: HashMap::new() }
    }
}

impl LabelColumn {
    fn append(&mut self, value: Option<&str>, n: usize) {
        match value {
            Some(v) => {
                let key = match self.index.get(v) {
                    Some(k) => *k,
                    None => {
                        let k = self.values.len() as i32;
                        self.values.push(v.to_string());
                        self.index.insert(v.to_string(), k);
                        k
                    }
                };
                self.keys.extend(std::iter::repeat_n(key, n));
                self.nulls.append_n_non_nulls(n);
            }
            None => {
                self.keys.extend(std::iter::repeat_n(0, n));
                self.nulls.append_n_nulls(n);
            }
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        let keys = Int32Array::new(std::mem::take(&mut self.keys).into(), self.nulls.finish());
        let values = Arc::new(StringArray::from(std::mem::take(&mut self.values)));
        self.index.clear();
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values)?))
    }
}

/// Accumulates the rows of several series into batches of the projected
/// schema.
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnKind>,
    labels: Vec<LabelColumn>,
    timestamps: Vec<i64>,
    values: Vec<f64>,
    rows: usize,
    want_times: bool,
    want_values: bool,
}

impl BatchBuilder {
    /// A builder of batches with `schema`, whose columns hold `columns`.
    pub fn new(schema: SchemaRef, columns: Vec<ColumnKind>) -> Self {
        let labels = columns.iter().filter(|c| matches!(c, ColumnKind::Label(_))).map(|_| LabelColumn::default());
        let want_times = columns.contains(&ColumnKind::Timestamp);
        let want_values = columns.contains(&ColumnKind::Value);
        Self {
            schema,
            labels: labels.collect(),
            columns,
            timestamps: Vec::new(),
            values: Vec::new(),
            rows: 0,
            want_times,
            want_values,
        }
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends the samples of one series (staleness markers are not rows),
    /// at most `max_rows` rows; returns the rows appended and the samples
    /// consumed (markers included), so a caller can go on where it stopped.
    pub fn append(&mut self, labels: &Labels, samples: &[Sample], max_rows: usize) -> (usize, usize) {
        let start = self.rows;
        let mut n = 0;
        let mut used = 0;
        for s in samples {
            if n == max_rows {
                break;
            }
            used += 1;
            if is_stale_nan(s.v) {
                continue;
            }
            if self.want_times {
                self.timestamps.push(s.t);
            }
            if self.want_values {
                self.values.push(s.v);
            }
            n += 1;
        }
        let mut li = 0;
        for c in &self.columns {
            if let ColumnKind::Label(name) = c {
                self.labels[li].append(labels.get(name).filter(|v| !v.is_empty()), n);
                li += 1;
            }
        }
        self.rows = start + n;
        (n, used)
    }

    /// The rows held as one batch; the builder is empty afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        let mut li = 0;
        for c in &self.columns {
            arrays.push(match c {
                ColumnKind::Label(_) => {
                    li += 1;
                    self.labels[li - 1].finish()?
                }
                ColumnKind::Timestamp => {
                    Arc::new(TimestampMillisecondArray::from(std::mem::take(&mut self.timestamps)).with_timezone("UTC"))
                }
                ColumnKind::Value => Arc::new(Float64Array::from(std::mem::take(&mut self.values))),
            });
        }
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use strata_common::sample::stale_nan;

    use super::*;

    #[test]
    fn series_become_runs_with_dictionary_labels() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("host", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true),
            Field::new("timestamp", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
            Field::new("value", DataType::Float64, false),
        ]));
        let cols = vec![ColumnKind::Label("host".into()), ColumnKind::Timestamp, ColumnKind::Value];
        let mut b = BatchBuilder::new(schema, cols);
        let a = Labels::from_pairs([("__name__", "m"), ("host", "a")]).unwrap();
        let none = Labels::from_pairs([("__name__", "m")]).unwrap();
        let samples = [Sample::new(1, 1.0), Sample::new(2, stale_nan()), Sample::new(3, 3.0)];
        assert_eq!(b.append(&a, &samples, usize::MAX), (2, 3));
        assert_eq!(b.append(&none, &samples, 1), (1, 1));
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 3);
        let host = batch.column(0).as_dictionary::<Int32Type>();
        assert_eq!(host.null_count(), 1);
        assert_eq!(host.values().as_string::<i32>().value(0), "a");
        assert_eq!(
            batch.column(1).as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>().values(),
            &[1, 3, 1]
        );
        assert_eq!(b.rows(), 0);
    }
}
