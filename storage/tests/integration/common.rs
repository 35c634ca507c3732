//! Helpers shared by the integration tests.
use strata_common::{Labels, Sample, TenantId};
use strata_storage::Memtable;

pub fn tenant(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

pub fn samples(v: &[(i64, f64)]) -> Vec<Sample> {
    v.iter().map(|&(t, v)| Sample::new(t, v)).collect()
}

/// Appends one series to a memtable.
pub fn append(m: &mut Memtable, t: &str, l: &[(&str, &str)], s: &[(i64, f64)]) {
    let l = labels(l);
    let pairs: Vec<(&str, &str)> = l.iter().map(|x| (x.name.as_str(), x.value.as_str())).collect();
    m.append(&tenant(t), &pairs, samples(s).into_iter());
}

/// Asserts two sample lists are equal bit for bit (NaN-safe).
pub fn assert_samples_eq(got: &[Sample], want: &[Sample]) {
    assert_eq!(got.len(), want.len(), "got {got:?}\nwant {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.t, g.v.to_bits()), (w.t, w.v.to_bits()), "got {got:?}\nwant {want:?}");
    }
}
