//! The native-histogram notation of `promqltest` files:
//! `{{schema:0 count:4 sum:10 z_bucket:1 z_bucket_w:0.001 offset:1
//! buckets:[1 2] n_offset:0 n_buckets:[1] custom_values:[1 2]
//! counter_reset_hint:gauge}}` (absolute bucket counts, one span per side
//! starting at `offset`), and its series expansions `{{…}}x3` (the same
//! histogram four times) and `{{a}}+{{b}}x2` / `{{a}}-{{b}}x2` (a, a±b,
//! a±2b), as Prometheus's series-description parser reads them.

use strata_common::histogram::{Histogram, ResetHint, Span};

/// Parses one `{{…}}` histogram (the braces included).
pub fn parse_histogram(text: &str) -> Option<Histogram> {
    let body = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let mut h = Histogram::default();
    let (mut offset, mut n_offset) = (0i32, 0i32);
    let (mut buckets, mut n_buckets) = (Vec::new(), Vec::new());
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once(':')?;
        let after = after.trim_start();
        let (value, next) = if let Some(list) = after.strip_prefix('[') {
            let end = list.find(']')?;
            (&list[..end], &list[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        let num = || parse_float(value);
        let list = || value.split_whitespace().map(parse_float).collect::<Option<Vec<f64>>>();
        match key.trim() {
            "schema" => h.schema = value.parse().ok()?,
            "sum" => h.sum = num()?,
            "count" => h.count = num()?,
            "z_bucket" => h.zero_count = num()?,
            "z_bucket_w" => h.zero_threshold = num()?,
            "offset" => offset = value.parse().ok()?,
            "n_offset" => n_offset = value.parse().ok()?,
            "buckets" => buckets = list()?,
            "n_buckets" => n_buckets = list()?,
            "custom_values" => h.custom_values = list()?,
            "counter_reset_hint" => {
                h.hint = match value {
                    "unknown" => ResetHint::Unknown,
                    "reset" => ResetHint::Reset,
                    "not_reset" => ResetHint::NotReset,
                    "gauge" => ResetHint::Gauge,
                    _ => return None,
                }
            }
            _ => return None,
        }
        rest = next.trim_start();
    }
    let spans = |offset: i32, n: usize| if n > 0 { vec![Span { offset, length: n as u32 }] } else { Vec::new() };
    h.positive_spans = spans(offset, buckets.len());
    h.positive_buckets = buckets;
    h.negative_spans = spans(n_offset, n_buckets.len());
    h.negative_buckets = n_buckets;
    Some(h)
}

fn parse_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().or_else(|| s.to_ascii_lowercase().parse::<f64>().ok())
}

/// Expands one histogram token of a series line: `{{…}}`, `{{…}}xN`,
/// `{{a}}+{{b}}xN`, `{{a}}-{{b}}xN`.
pub fn expand(token: &str) -> Option<Vec<Histogram>> {
    let close = token.find("}}")? + 2;
    let first = parse_histogram(&token[..close])?;
    let rest = &token[close..];
    if rest.is_empty() {
        return Some(vec![first]);
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n: usize = n.parse().ok()?;
        return Some(vec![first; n + 1]);
    }
    let sign = match rest.as_bytes().first()? {
        b'+' => 1.0,
        b'-' => -1.0,
        _ => return None,
    };
    let rest = &rest[1..];
    let close = rest.find("}}")? + 2;
    let delta = parse_histogram(&rest[..close])?;
    let n: usize = rest[close..].strip_prefix('x')?.parse().ok()?;
    let mut out = Vec::with_capacity(n + 1);
    let mut cur = first;
    for _ in 0..=n {
        out.push(cur.clone());
        let next = if sign > 0.0 { cur.add(&delta) } else { cur.sub(&delta) };
        cur = next.ok()?;
        cur.hint = out[0].hint;
    }
    Some(out)
}

/// Splits a series' value text into tokens: whitespace separates them,
/// except inside `{{…}}`.
pub fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut depth) = (None, 0usize);
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"{{") {
            depth += 1;
            start.get_or_insert(i);
            i += 2;
            continue;
        }
        if b[i..].starts_with(b"}}") && depth > 0 {
            depth -= 1;
            i += 2;
            continue;
        }
        if b[i].is_ascii_whitespace() && depth == 0 {
            if let Some(s) = start.take() {
                out.push(&text[s..i]);
            }
        } else {
            start.get_or_insert(i);
        }
        i += 1;
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation_and_expansion() {
        let h = parse_histogram("{{schema:1 sum:-0.3 count:3.1 z_bucket:7.1 z_bucket_w:0.05 buckets:[5.1 10 7] offset:-3 n_buckets:[4.1 5] n_offset:-5 counter_reset_hint:gauge}}").unwrap();
        assert_eq!((h.schema, h.sum, h.count, h.zero_count, h.zero_threshold), (1, -0.3, 3.1, 7.1, 0.05));
        assert_eq!(h.positive_spans, vec![Span { offset: -3, length: 3 }]);
        assert_eq!(h.negative_buckets, vec![4.1, 5.0]);
        assert_eq!(h.hint, ResetHint::Gauge);
        assert_eq!(parse_histogram("{{}}").unwrap(), Histogram::default());
        let toks = tokens("1 {{schema:0 sum:1 count:1 buckets:[1]}}+{{sum:1 count:1 buckets:[1]}}x2 _ stale");
        assert_eq!(toks.len(), 4);
        let xs = expand(toks[1]).unwrap();
        assert_eq!(xs.iter().map(|h| h.count).collect::<Vec<_>>(), vec![1.0, 2.0, 3.0]);
        assert_eq!(xs[2].positive_buckets, vec![3.0]);
        assert_eq!(expand("{{count:2}}x3").unwrap().len(), 4);
    }
}
