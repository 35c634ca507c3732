//! The `strata-record-version` header every Kafka record carries, and what a
//! reader does with a record whose header is missing or unknown.
//!
//! The header's value is the record's format version (the first byte of the
//! payload, see `common/docs/format/log-record.md`) as ASCII decimal, e.g.
//! `2`. It lets any consumer (and `tansu`/`kcat`-style tools) tell Strata
//! records and their version apart without decoding the payload.
//!
//! A reader never drops a record silently and never fails on one: a record
//! it cannot vouch for is handed on with a *replacement payload* the record
//! decoder rejects, so the ingester counts, logs and skips it at its offset:
//!
//! | header                                    | payload handed on | decoder says               |
//! |-------------------------------------------|-------------------|----------------------------|
//! | `v` ∈ {1, 2, 3} and payload starts with `v` | the record        | (decodes)                  |
//! | `v` ∉ {1, 2, 3} (a newer or foreign writer) | `[v]`             | `UnsupportedRecordVersion` |
//! | missing, not a number, or ≠ payload byte  | empty             | `CorruptRecord`            |

use bytes::Bytes;
use rdkafka::message::{Header, Headers, OwnedHeaders};

use strata_common::record::is_known_version;

/// Name of the version header.
pub const VERSION_HEADER: &str = "strata-record-version";

/// The headers of a record with `payload` (its version is its first byte).
pub(crate) fn headers_for(payload: &[u8]) -> OwnedHeaders {
    let version = payload.first().map_or_else(String::new, |v| v.to_string());
    OwnedHeaders::new_with_capacity(1).insert(Header { key: VERSION_HEADER, value: Some(version.as_bytes()) })
}

/// What a reader hands on for a record read back: the payload itself, or a
/// replacement and the reason (see the module docs).
pub(crate) fn checked_payload<H: Headers>(headers: Option<&H>, payload: &[u8]) -> Result<Bytes, (Bytes, String)> {
    let value = headers.and_then(|h| h.iter().find(|h| h.key == VERSION_HEADER)).map(|h| h.value);
    let Some(value) = value else {
        return Err((Bytes::new(), format!("no {VERSION_HEADER} header: not written by Strata")));
    };
    let text = value.and_then(|v| std::str::from_utf8(v).ok()).unwrap_or("");
    let Ok(version) = text.parse::<u8>() else {
        return Err((Bytes::new(), format!("{VERSION_HEADER} header {:?} is not a version number", value)));
    };
    if !is_known_version(version) {
        return Err((Bytes::copy_from_slice(&[version]), format!("unsupported record version {version}")));
    }
    if payload.first() != Some(&version) {
        return Err((
            Bytes::new(),
            format!("{VERSION_HEADER} header says {version} but the payload starts with {:?}", payload.first()),
        ));
    }
    Ok(Bytes::copy_from_slice(payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_common::error::Error;
    use strata_common::record::RecordView;

    fn decode(payload: &[u8]) -> strata_common::error::Result<()> {
        let mut scratch = Vec::new();
        RecordView::parse(payload, &mut scratch, 3, 7).map(|_| ())
    }

    #[test]
    fn known_versions_pass_and_others_become_decoder_errors() {
        let record = [2u8, 9, 9];
        let ok = checked_payload(Some(&headers_for(&record)), &record).unwrap();
        assert_eq!(&ok[..], &record);

        let none: Option<&OwnedHeaders> = None;
        let (p, why) = checked_payload(none, &record).unwrap_err();
        assert!(why.contains("no strata-record-version"), "{why}");
        assert!(matches!(decode(&p), Err(Error::CorruptRecord { partition: 3, offset: 7, .. })));

        let future = [9u8, 1, 2];
        let (p, why) = checked_payload(Some(&headers_for(&future)), &future).unwrap_err();
        assert!(why.contains("unsupported record version 9"), "{why}");
        assert!(matches!(decode(&p), Err(Error::UnsupportedRecordVersion { version: 9, .. })));

        let h = OwnedHeaders::new().insert(Header { key: VERSION_HEADER, value: Some("2") });
        let (p, why) = checked_payload(Some(&h), &[1u8, 0]).unwrap_err();
        assert!(why.contains("payload starts with"), "{why}");
        assert!(matches!(decode(&p), Err(Error::CorruptRecord { .. })));

        let h = OwnedHeaders::new().insert(Header { key: VERSION_HEADER, value: Some("two") });
        assert!(checked_payload(Some(&h), &record).is_err());
    }
}
