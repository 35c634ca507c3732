//! Keeps the byte examples in `docs/format/*.md` honest.
use strata_common::Sample;
use strata_common::record::{RecordBuilder, RecordView};

use super::common::tenant;

#[test]
fn log_record_doc_example() {
    let mut b = RecordBuilder::new(&tenant("acme"));
    b.push_series([("__name__", "up"), ("job", "a")].into_iter(), &[Sample::new(1, 1.5)]);
    let bytes = b.finish();
    let want: Vec<u8> = [
        &[0x01][..],
        &[0x04, b'a', b'c', b'm', b'e'],
        &[0x81, 0x80, 0x80, 0x80, 0x00],
        &[0x02],
        &[0x08],
        b"__name__",
        &[0x02, b'u', b'p'],
        &[0x03, b'j', b'o', b'b'],
        &[0x01, b'a'],
        &[0x01],
        &[0x01, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 0, 0, 0, 0xf8, 0x3f],
    ]
    .concat();
    assert_eq!(bytes, want);
    let view = RecordView::parse(&bytes, 0, 0).unwrap();
    assert_eq!(view.tenant, "acme");
    assert_eq!(view.series_count(), 1);
}
