//! Label-matcher evaluation over an inverted index, shared by the memtable and
//! the file reader.
//!
//! A [`Postings`] source maps label name → value → bitmap of series ids. The
//! semantics are Prometheus's: regexes are fully anchored (the [`Matcher`]
//! compiles them so), and a series *without* a label behaves as if it had the
//! empty value, so a matcher that matches `""` (`{a=""}`, `{a!="x"}`,
//! `{a=~"x|"}`, `{a!~"x"}`) also selects series lacking `a`.
//!
//! Evaluation: each matcher is either *positive* (does not match `""`: the
//! answer is the union of the postings of the values it matches) or
//! *negative* (matches `""`: the answer is all series minus the union of the
//! values it rejects). Positive matchers are evaluated cheapest first
//! (`=`, then literal alternations via [`Matcher::set_literals`], then
//! regexes with a literal prefix — only the values starting with it are
//! tested ([`literal_prefix`], [`Postings::union_values_prefixed`]), then
//! full regex scans over the value dictionary) and intersected, stopping as soon as the
//! result is empty; negative matchers are then subtracted. Only when there is
//! no positive matcher does evaluation start from the all-series bitmap.
use std::borrow::Cow;

use roaring::RoaringBitmap;
use strata_common::{MatchOp, Matcher};

/// An inverted index: label name → sorted values → series bitmap.
pub trait Postings {
    /// Every series id of the source.
    fn all_series(&self) -> Cow<'_, RoaringBitmap>;
    /// The series with `name="value"`, if any.
    fn postings(&self, name: &str, value: &str) -> Option<Cow<'_, RoaringBitmap>>;
    /// The union of the postings of every value of `name` for which `keep`
    /// returns true.
    fn union_values(&self, name: &str, keep: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap;
    /// Like [`Postings::union_values`], over the values starting with
    /// `prefix` only. Sources with sorted values override it to visit just
    /// that range.
    fn union_values_prefixed(&self, name: &str, prefix: &str, keep: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap {
        self.union_values(name, &mut |v| v.starts_with(prefix) && keep(v))
    }
}

/// A literal every match of the (fully anchored) regex `re` starts with,
/// if there is a non-empty one that can be proven simply: the leading
/// characters before any regex syntax, minus the last one when a `*`, `?`
/// or `{` makes it optional; `None` when the regex has a top-level
/// alternation (`ab|cd`), flags, or anything the scan does not understand.
pub fn literal_prefix(re: &str) -> Option<&str> {
    const META: &[char] = &['\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$'];
    let end = re.find(META).unwrap_or(re.len());
    let mut prefix = &re[..end];
    if matches!(re[end..].chars().next(), Some('*' | '?' | '{')) {
        let last = prefix.char_indices().last().map_or(0, |(i, _)| i);
        prefix = &prefix[..last];
    }
    if prefix.is_empty() || has_top_level_alternation(re)? {
        return None;
    }
    Some(prefix)
}

/// Whether `re` has a `|` outside any group or class; `None` if the scan
/// finds unbalanced syntax.
fn has_top_level_alternation(re: &str) -> Option<bool> {
    let (mut depth, mut in_class) = (0usize, false);
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next()?;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth = depth.checked_sub(1)?,
            '|' if !in_class && depth == 0 => return Some(true),
            _ => {}
        }
    }
    (depth == 0 && !in_class).then_some(false)
}

/// Cost class of a positive matcher: lower is evaluated first.
fn cost(m: &Matcher) -> u8 {
    match m.op {
        MatchOp::Equal => 0,
        MatchOp::RegexMatch if m.set_literals().is_some() => 1,
        MatchOp::RegexMatch if literal_prefix(&m.value).is_some() => 2,
        _ => 3,
    }
}

/// Union of the postings of `values` (exact lookups).
fn union_of<'a>(p: &dyn Postings, name: &str, values: impl IntoIterator<Item = &'a str>) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    for v in values {
        if let Some(b) = p.postings(name, v) {
            out |= b.as_ref();
        }
    }
    out
}

/// Series having a value of `m.name` that `m` accepts (for positive matchers).
fn accepted(p: &dyn Postings, m: &Matcher) -> RoaringBitmap {
    match m.op {
        MatchOp::Equal => p.postings(&m.name, &m.value).map(Cow::into_owned).unwrap_or_default(),
        MatchOp::RegexMatch => match (m.set_literals(), literal_prefix(&m.value)) {
            (Some(lits), _) => union_of(p, &m.name, lits),
            (None, Some(prefix)) => p.union_values_prefixed(&m.name, prefix, &mut |v| m.matches(v)),
            (None, None) => p.union_values(&m.name, &mut |v| m.matches(v)),
        },
        MatchOp::NotEqual | MatchOp::RegexNoMatch => p.union_values(&m.name, &mut |v| m.matches(v)),
    }
}

/// Series having a value of `m.name` that `m` rejects (for negative matchers).
fn rejected(p: &dyn Postings, m: &Matcher) -> RoaringBitmap {
    match m.op {
        MatchOp::NotEqual => p.postings(&m.name, &m.value).map(Cow::into_owned).unwrap_or_default(),
        MatchOp::RegexNoMatch => match m.set_literals() {
            Some(lits) => union_of(p, &m.name, lits),
            None => p.union_values(&m.name, &mut |v| !m.matches(v)),
        },
        MatchOp::Equal | MatchOp::RegexMatch => p.union_values(&m.name, &mut |v| !m.matches(v)),
    }
}

/// The series of `p` matching every matcher (an empty list selects all).
pub fn select(p: &dyn Postings, matchers: &[Matcher]) -> RoaringBitmap {
    let (mut negative, mut positive): (Vec<&Matcher>, Vec<&Matcher>) = matchers.iter().partition(|m| m.matches_empty());
    positive.sort_by_key(|m| cost(m));
    let mut result: Option<RoaringBitmap> = None;
    for m in positive {
        let b = accepted(p, m);
        let next = match result {
            None => b,
            Some(mut r) => {
                r &= b;
                r
            }
        };
        if next.is_empty() {
            return next;
        }
        result = Some(next);
    }
    let mut result = result.unwrap_or_else(|| p.all_series().into_owned());
    negative.sort_by_key(|m| cost(m));
    for m in negative {
        result -= rejected(p, m);
        if result.is_empty() {
            break;
        }
    }
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use proptest::prelude::*;
    use strata_common::Labels;
    use strata_common::matcher::matches_all;

    /// A plain in-memory postings source over a list of label sets.
    pub(crate) struct TestPostings {
        all: RoaringBitmap,
        map: BTreeMap<String, BTreeMap<String, RoaringBitmap>>,
    }

    impl TestPostings {
        pub(crate) fn new(series: &[Labels]) -> Self {
            let mut map: BTreeMap<String, BTreeMap<String, RoaringBitmap>> = BTreeMap::new();
            for (id, l) in series.iter().enumerate() {
                for label in l {
                    map.entry(label.name.clone())
                        .or_default()
                        .entry(label.value.clone())
                        .or_default()
                        .insert(id as u32);
                }
            }
            Self { all: (0..series.len() as u32).collect(), map }
        }
    }

    impl Postings for TestPostings {
        fn all_series(&self) -> Cow<'_, RoaringBitmap> {
            Cow::Borrowed(&self.all)
        }
        fn postings(&self, name: &str, value: &str) -> Option<Cow<'_, RoaringBitmap>> {
            self.map.get(name)?.get(value).map(Cow::Borrowed)
        }
        fn union_values(&self, name: &str, keep: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap {
            let mut out = RoaringBitmap::new();
            for (v, b) in self.map.get(name).into_iter().flatten() {
                if keep(v) {
                    out |= b;
                }
            }
            out
        }
    }

    fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
        Matcher::new(op, n, v).unwrap()
    }

    fn ids(b: &RoaringBitmap) -> Vec<u32> {
        b.iter().collect()
    }

    #[test]
    fn empty_matching_matchers_select_series_without_the_label() {
        let series = vec![
            Labels::from_pairs([("a", "x"), ("b", "1")]).unwrap(),
            Labels::from_pairs([("a", "y")]).unwrap(),
            Labels::from_pairs([("b", "2")]).unwrap(),
        ];
        let p = TestPostings::new(&series);
        assert_eq!(ids(&select(&p, &[m(MatchOp::Equal, "a", "")])), vec![2]);
        assert_eq!(ids(&select(&p, &[m(MatchOp::NotEqual, "a", "x")])), vec![1, 2]);
        assert_eq!(ids(&select(&p, &[m(MatchOp::RegexMatch, "a", "x|")])), vec![0, 2]);
        assert_eq!(ids(&select(&p, &[m(MatchOp::RegexNoMatch, "a", "x|y")])), vec![2]);
        assert_eq!(ids(&select(&p, &[m(MatchOp::NotEqual, "a", "")])), vec![0, 1]);
        assert_eq!(ids(&select(&p, &[m(MatchOp::RegexMatch, "a", ".+")])), vec![0, 1]);
        assert_eq!(ids(&select(&p, &[m(MatchOp::RegexMatch, "a", "x")])), vec![0]);
        // Anchored: "x" does not match "xx", ".x" does not match "x".
        assert_eq!(ids(&select(&p, &[m(MatchOp::RegexMatch, "a", ".x")])), Vec::<u32>::new());
        assert_eq!(ids(&select(&p, &[])), vec![0, 1, 2]);
        assert_eq!(ids(&select(&p, &[m(MatchOp::Equal, "b", "1"), m(MatchOp::RegexMatch, "a", "x|y")])), vec![0]);
        assert_eq!(ids(&select(&p, &[m(MatchOp::Equal, "nope", "1")])), Vec::<u32>::new());
    }

    #[test]
    fn literal_prefixes_are_conservative() {
        assert_eq!(literal_prefix("host-0.*"), Some("host-0"));
        assert_eq!(literal_prefix("api-(a|b)"), Some("api-"));
        assert_eq!(literal_prefix("abc+"), Some("abc"));
        assert_eq!(literal_prefix("abc*"), Some("ab"));
        assert_eq!(literal_prefix("abc?d"), Some("ab"));
        assert_eq!(literal_prefix("ab{2}"), Some("a"));
        assert_eq!(literal_prefix("a*"), None);
        assert_eq!(literal_prefix("ab.*|cd"), None, "top-level alternation");
        assert_eq!(literal_prefix("ab[|]"), Some("ab"), "| inside a class is a literal");
        assert_eq!(literal_prefix("(?i)ab"), None);
        assert_eq!(literal_prefix(".*ab"), None);
        assert_eq!(literal_prefix("ab(c"), None, "unbalanced");
        assert_eq!(literal_prefix("hé.*"), Some("hé"));
    }

    fn arb_labels() -> impl Strategy<Value = Labels> {
        prop::collection::btree_map(
            prop::sample::select(vec!["a", "b", "c"]),
            prop::sample::select(vec!["x", "y", "xy", "z"]),
            0..3,
        )
        .prop_map(|m| Labels::from_pairs(m).unwrap())
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        let op =
            prop::sample::select(vec![MatchOp::Equal, MatchOp::NotEqual, MatchOp::RegexMatch, MatchOp::RegexNoMatch]);
        let name = prop::sample::select(vec!["a", "b", "c", "d"]);
        let value = prop::sample::select(vec![
            "", "x", "y", "xy", "x|y", "x|", "|z", "x.*", ".*", ".+", "x?y", "(x|z)", "[xy]+", "xy*", "x(y|z)",
            "xy?.*", "x.*|z", "x+", "x\\.y", "x[y]",
        ]);
        (op, name, value).prop_map(|(op, n, v)| Matcher::new(op, n, v).unwrap())
    }

    proptest! {
        #[test]
        fn prop_matches_brute_force(series in prop::collection::vec(arb_labels(), 0..30),
                                    matchers in prop::collection::vec(arb_matcher(), 0..4)) {
            let p = TestPostings::new(&series);
            let got = ids(&select(&p, &matchers));
            let want: Vec<u32> = series.iter().enumerate()
                .filter(|(_, l)| matches_all(&matchers, l)).map(|(i, _)| i as u32).collect();
            prop_assert_eq!(got, want);
        }
    }
}
