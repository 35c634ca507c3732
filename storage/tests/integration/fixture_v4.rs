//! The frozen v4 fixture: future versions must keep decoding it exactly.
//!
//! `tests/fixtures/v4/basic.strata` holds the v3 fixture's series plus 64
//! `up{host=…}` series (enough index for zstd to pay off), written as
//! compaction writes files, by `regenerate_fixture_v4` below (run with
//! `--ignored` only while v4 is the version being created; never overwrite it).
use std::path::PathBuf;

use strata_common::{MatchOp, Matcher, Sample};
use strata_storage::FileReader;
use strata_storage::format::{FOOTER_LEN, Footer, SECTION_CHUNKS};

fn expected() -> super::fixture_v1::Expected {
    let mut exp = super::fixture_v3::expected();
    let hosts: &'static [String] =
        Box::leak((0..64).map(|h| format!("host-{h:02}")).collect::<Vec<_>>().into_boxed_slice());
    for (h, host) in hosts.iter().enumerate() {
        let up = (0..4).map(|i| Sample::new(1_700_000_000_000 + i * 15_000, ((h + i as usize) % 2) as f64));
        exp.push((vec![("__name__", "up"), ("host", host.as_str()), ("job", "node")], up.collect()));
    }
    exp.sort_by_key(|a| super::common::labels(&a.0));
    exp
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v4/basic.strata")
}

#[test]
#[ignore = "writes the fixture; only while creating format v4"]
fn regenerate_fixture_v4() {
    super::fixture_v1::write_fixture(&fixture(), &expected(), Some(3));
}

#[test]
fn v4_fixture_decodes_exactly() {
    let exp = expected();
    assert_eq!(exp.iter().map(|(_, s)| s.len()).sum::<usize>(), 1307 + 64 * 4);
    let zstd_chunks = super::fixture_v1::assert_decodes_exactly(&fixture(), 4, &exp);
    assert!(zstd_chunks > 0, "the fixture exercises kind-2 (zstd) chunks");
    let bytes = std::fs::read(fixture()).unwrap();
    let footer = Footer::decode(&bytes[bytes.len() - FOOTER_LEN..]).unwrap();
    for (i, s) in footer.sections.iter().enumerate() {
        let compressed = s.raw_len > 0;
        assert_eq!(compressed, i != SECTION_CHUNKS, "section {i}: every index section of the fixture is compressed");
    }
    // The postings come from the decompressed section.
    let r = FileReader::open(&fixture()).unwrap();
    let m = |op, name, value| Matcher::new(op, name, value).unwrap();
    assert_eq!(r.select(&[m(MatchOp::Equal, "__name__", "up")]).len(), 64 + 1);
    assert_eq!(r.select(&[m(MatchOp::RegexMatch, "host", "host-1.")]).len(), 10);
    assert_eq!(r.label_values("job"), ["api", "node"]);
}

/// `bytes` with its footer rewritten by `edit` (the footer CRC recomputed).
fn with_footer(bytes: &[u8], edit: impl FnOnce(&mut Footer)) -> Vec<u8> {
    let at = bytes.len() - FOOTER_LEN;
    let mut footer = Footer::decode(&bytes[at..]).unwrap();
    edit(&mut footer);
    let mut out = bytes[..at].to_vec();
    footer.encode(&mut out);
    out
}

#[test]
fn a_wrong_uncompressed_length_or_a_compressed_section_before_v4_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.strata");
    let open_err = |bytes: Vec<u8>| {
        std::fs::write(&bad, bytes).unwrap();
        FileReader::open(&bad).unwrap_err().to_string()
    };
    let v4 = std::fs::read(fixture()).unwrap();
    for delta in [-1i64, 1] {
        let e = open_err(with_footer(&v4, |f| f.sections[2].raw_len = (f.sections[2].raw_len as i64 + delta) as u32));
        assert!(e.contains("series section does not decompress") && e.contains("bad.strata"), "{e}");
    }
    let e = open_err(with_footer(&v4, |f| f.sections[SECTION_CHUNKS].raw_len = 10));
    assert!(e.contains("chunks section marked compressed"), "{e}");
    let v3 = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v3/basic.strata")).unwrap();
    let e = open_err(with_footer(&v3, |f| f.sections[2].raw_len = 100));
    assert!(e.contains("series section marked compressed in a v3 file"), "{e}");
}
