//! Keeps the byte examples in `docs/format/*.md` honest.
use strata_common::Sample;
use strata_common::record::{RecordBuilder, RecordView};

use super::common::tenant;

/// The example of `common/docs/format/log-record.md`: the uncompressed body of `up{job="a"}`
/// with the sample (1, 1.5).
fn example_body() -> Vec<u8> {
    [
        &[0x02][..],
        &[0x08],
        b"__name__",
        &[0x02, b'u', b'p'],
        &[0x03, b'j', b'o', b'b'],
        &[0x01, b'a'],
        &[0x01],
        &[0x01, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 0, 0, 0, 0xf8, 0x3f],
    ]
    .concat()
}

/// The version 3 example: `up{job="a"}` (1, 1.5) then `up{job="b"}` (1, 2.0).
#[test]
fn log_record_doc_example() {
    let mut b = RecordBuilder::new(&tenant("acme"));
    b.push_series([("__name__", "up"), ("job", "a")].into_iter(), &[Sample::new(1, 1.5)]);
    b.push_series([("__name__", "up"), ("job", "b")].into_iter(), &[Sample::new(1, 2.0)]);
    let bytes = b.finish();
    let want: Vec<u8> = [
        &[0x03][..],
        &[0x04, b'a', b'c', b'm', b'e'],
        &[0x02],
        &[0x48],
        // Series 1: nothing to share with.
        &[0x02, 0x00],
        &[0x08],
        b"__name__",
        &[0x02, b'u', b'p', 0x03, b'j', b'o', b'b', 0x01, b'a'],
        &[0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f],
        // Series 2: pair 0 (__name__="up") shared, job="b" in full.
        &[0x02, 0x01],
        &[0x03, b'j', b'o', b'b', 0x01, b'b'],
        &[0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40],
    ]
    .concat();
    assert_eq!(bytes, want);
    let mut scratch = Vec::new();
    let view = RecordView::parse(&bytes, &mut scratch, 0, 0).unwrap();
    assert_eq!(view.tenant, "acme");
    assert_eq!(view.series_count(), 2);
    let mut second = example_body();
    second[18] = b'b';
    second[28..].copy_from_slice(&2.0f64.to_bits().to_le_bytes());
    assert_eq!(scratch, [example_body(), second].concat());
}

/// The version 2 example (written before version 3): frozen bytes still decode.
#[test]
fn log_record_v2_doc_example_still_decodes() {
    let body = example_body();
    let v2: Vec<u8> = [
        &[0x02][..],
        &[0x04, b'a', b'c', b'm', b'e'],
        &[0x01],
        &[0x24],
        // LZ4 sequence 1: 15 + 7 = 22 literals, then a match of 4 + 4 = 8
        // bytes at offset 1 (the zeros of the timestamp and value).
        &[0xf4, 0x07],
        &body[..22],
        &[0x01, 0x00],
        // Sequence 2 (last): 6 literals, no match.
        &[0x60],
        &body[30..],
    ]
    .concat();
    let mut scratch = Vec::new();
    let view = RecordView::parse(&v2, &mut scratch, 0, 0).unwrap();
    assert_eq!(view.tenant, "acme");
    assert_eq!(view.series_count(), 1);
    let series: Vec<_> = view.series().map(|s| s.unwrap()).collect();
    assert_eq!(series[0].labels().unwrap(), vec![("__name__", "up"), ("job", "a")]);
    assert_eq!(series[0].samples().collect::<Vec<_>>(), vec![Sample::new(1, 1.5)]);
    assert_eq!(scratch, body);
}

#[test]
fn log_record_v1_doc_example_still_decodes() {
    let v1: Vec<u8> =
        [&[0x01][..], &[0x04, b'a', b'c', b'm', b'e'], &[0x81, 0x80, 0x80, 0x80, 0x00], &example_body()].concat();
    let mut scratch = Vec::new();
    let view = RecordView::parse(&v1, &mut scratch, 0, 0).unwrap();
    assert_eq!(view.tenant, "acme");
    let series: Vec<_> = view.series().map(|s| s.unwrap()).collect();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].labels().unwrap(), vec![("__name__", "up"), ("job", "a")]);
    assert_eq!(series[0].samples().collect::<Vec<_>>(), vec![Sample::new(1, 1.5)]);
}
