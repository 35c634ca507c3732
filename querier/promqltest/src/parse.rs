//! Parsing Prometheus `promqltest` files into [`Command`]s: `load`,
//! `clear`, `eval` (instant / range, with `expect` lines or result lines).

use strata_common::histogram::Histogram;
use strata_common::sample::stale_nan;
use strata_common::{Labels, Timestamp};

use strata_querier::format::parse_prom_duration;

/// An expected series: labels and one value per point (`None`: absent).
#[derive(Debug, Clone)]
pub struct SeriesLine {
    /// The series' labels, `__name__` included.
    pub labels: Labels,
    /// One value per point of the load interval or evaluation step.
    pub values: Vec<Option<f64>>,
    /// One native histogram per point (a point has a float or a histogram);
    /// empty when the line has no histogram.
    pub hists: Vec<Option<Histogram>>,
}

impl SeriesLine {
    /// The line `labels` followed by the value text `vals`.
    pub fn parse(labels: Labels, vals: &str) -> Option<Self> {
        let (values, hists) = parse_values_hist(vals)?;
        Some(Self { labels, values, hists })
    }
}

/// What an `eval` expects.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The evaluation must fail.
    pub fail: bool,
    /// `expect fail msg: <text>` or `expect fail regex: <re>`: what the
    /// error must say.
    pub fail_message: Option<FailMessage>,
    /// Series must come in the listed order.
    pub ordered: bool,
    /// A scalar result (a bare number line).
    pub scalar: Option<f64>,
    /// A string result (`expect string "..."`).
    pub string: Option<String>,
    /// `expect range vector from <t> to <t> step <d>`: an instant query
    /// returning a range vector, with points at `start + i * step`.
    pub range: Option<(Timestamp, Timestamp)>,
    /// The expected series.
    pub series: Vec<SeriesLine>,
    /// Something the harness cannot check yet (reason).
    pub unsupported: Option<String>,
    /// What the query's warning and info annotations must be.
    pub annotations: ExpectAnnotations,
}

/// The `expect warn|info|no_warn|no_info` lines (and `eval_warn` /
/// `eval_info`) of one eval, checked as promqltest does: each expected
/// text must be among the query's annotations of its kind, and each
/// annotation of a kind with expected texts must match one of them.
#[derive(Debug, Clone, Default)]
pub struct ExpectAnnotations {
    /// At least one warning (`eval_warn`, `expect warn`).
    pub warn: bool,
    /// At least one info (`eval_info`, `expect info`).
    pub info: bool,
    /// No warning at all (`expect no_warn`).
    pub no_warn: bool,
    /// No info at all (`expect no_info`).
    pub no_info: bool,
    /// `expect warn msg:|regex:` texts.
    pub warnings: Vec<FailMessage>,
    /// `expect info msg:|regex:` texts.
    pub infos: Vec<FailMessage>,
}

/// The error an `expect fail` line asks for.
#[derive(Debug, Clone)]
pub enum FailMessage {
    /// The error text, exactly.
    Exact(String),
    /// A regular expression the error text must match.
    Regex(String),
}

impl FailMessage {
    /// Whether `error` is what was asked for. An unparsable regex matches nothing.
    pub fn matches(&self, error: &str) -> bool {
        match self {
            FailMessage::Exact(want) => error == want,
            FailMessage::Regex(re) => regex::Regex::new(re).is_ok_and(|re| re.is_match(error)),
        }
    }
}

/// One command of a test file.
#[derive(Debug, Clone)]
pub enum Command {
    /// Series with samples at `i * interval`. `unreadable` names the metrics
    /// of lines that could not be read (histograms); `None` in it means a
    /// line whose metric name is unknown.
    Load {
        /// Milliseconds between a series' consecutive values.
        interval: Timestamp,
        /// The series that were read.
        series: Vec<SeriesLine>,
        /// Metric names of the lines that could not be read.
        unreadable: Vec<Option<String>>,
        /// `load_with_nhcb`: classic histograms are also loaded as native
        /// histograms with custom buckets (see [`crate::nhcb`]).
        nhcb: bool,
    },
    /// Drops every loaded series.
    Clear,
    /// One query and what it must answer.
    Eval {
        /// 1-based line number of the `eval` line.
        line: usize,
        /// The PromQL expression.
        expr: String,
        /// Evaluation range (equal for an instant query), milliseconds.
        start: Timestamp,
        /// Last evaluation time (equal to `start` for an instant query).
        end: Timestamp,
        /// Range step (1 for an instant query), milliseconds.
        step: Timestamp,
        /// `eval instant` rather than `eval range`.
        instant: bool,
        /// What the result must be.
        expect: Box<Expect>,
        /// 0-based indices of the expected-result lines (not `expect …`
        /// lines), for complete mode.
        result_lines: Vec<usize>,
        /// 0-based index of the command's last line.
        last_line: usize,
    },
    /// A command the harness does not know (counted as skipped).
    Unknown {
        /// 1-based line number.
        line: usize,
        /// The command line as written.
        text: String,
    },
}

/// Parses a duration as used in test files (`5m`, `1h30m`, `10`, `1.5`).
pub fn parse_test_duration(s: &str) -> Option<Timestamp> {
    parse_prom_duration(s)
        .or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| (f * 1000.0).round() as i64))
}

/// Parses one value token; `Err(())` for unsupported notation (histograms).
fn parse_number(s: &str) -> Option<f64> {
    match s {
        "stale" => Some(stale_nan()),
        _ => s.parse::<f64>().ok().or_else(|| s.to_ascii_lowercase().parse::<f64>().ok()),
    }
}

/// Floats and histograms per point (see [`SeriesLine`]).
pub type Points = (Vec<Option<f64>>, Vec<Option<Histogram>>);

/// Expands the series-value notation with native histograms
/// (`1 {{count:1}}x2 {{…}}+{{…}}x3 _`): floats and histograms per point.
pub fn parse_values_hist(text: &str) -> Option<Points> {
    if !text.contains("{{") {
        return Some((parse_values(text)?, Vec::new()));
    }
    let (mut values, mut hists) = (Vec::new(), Vec::new());
    for tok in crate::hist::tokens(text) {
        if tok.starts_with("{{") {
            for h in crate::hist::expand(tok)? {
                values.push(None);
                hists.push(Some(h));
            }
        } else {
            let v = parse_values(tok)?;
            hists.extend(std::iter::repeat_n(None, v.len()));
            values.extend(v);
        }
    }
    Some((values, hists))
}

/// Expands the series-value notation (`1 _ 2+3x4 _x2 stale 5x3 Inf`).
pub fn parse_values(text: &str) -> Option<Vec<Option<f64>>> {
    let mut out = Vec::new();
    for tok in text.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            out.extend(std::iter::repeat_n(None, n.parse().ok()?));
            continue;
        }
        let (base, times) = match tok.rfind('x') {
            Some(i) if i > 0 && tok[i + 1..].bytes().all(|b| b.is_ascii_digit()) && i + 1 < tok.len() => {
                (&tok[..i], Some(tok[i + 1..].parse::<usize>().ok()?))
            }
            _ => (tok, None),
        };
        let Some(times) = times else {
            out.push(Some(parse_number(base)?));
            continue;
        };
        // `a+b` / `a-b`: the sign after the first character, not an exponent's.
        let b = base.as_bytes();
        let split = (1..b.len()).find(|&i| matches!(b[i], b'+' | b'-') && !matches!(b[i - 1], b'e' | b'E'));
        match split {
            Some(i) => {
                let start = parse_number(&base[..i])?;
                let delta = parse_number(&base[i..])?;
                out.extend((0..=times).map(|k| Some(start + delta * k as f64)));
            }
            None => out.extend(std::iter::repeat_n(Some(parse_number(base)?), times + 1)),
        }
    }
    Some(out)
}

/// Parses `name{a="b", ...}` at the start of `s`; returns labels and the rest.
pub fn parse_series_desc(s: &str) -> Option<(Labels, &str)> {
    let s = s.trim_start();
    let name_len = s.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(s.len());
    let name = &s[..name_len];
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    let mut rest = &s[name_len..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        loop {
            while chars.next_if(|(_, c)| c.is_whitespace() || *c == ',').is_some() {}
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i + 1);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
                key.push(c);
            }
            while chars.next_if(|(_, c)| c.is_whitespace() || *c == '=').is_some() {}
            let (_, quote) = chars.next()?;
            if !matches!(quote, '"' | '\'' | '`') {
                return None;
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    c if c == quote => break,
                    '\\' if quote != '`' => {
                        let (_, e) = chars.next()?;
                        value.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                    c => value.push(c),
                }
            }
            let key = key.trim_matches('"').to_string();
            pairs.push((key, value));
        }
        rest = &body[end?..];
    }
    Some((Labels::from_pairs(pairs).ok()?, rest))
}

/// `"..."`, `'...'` or `` `...` `` → the unquoted text (simple escapes).
fn unquote(s: &str) -> Option<String> {
    let quote = s.chars().next()?;
    if !matches!(quote, '"' | '\'' | '`') || s.len() < 2 || !s.ends_with(quote) {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    if quote == '`' {
        return Some(inner.to_string());
    }
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => match chars.next()? {
                'n' => '\n',
                't' => '\t',
                other => other,
            },
            c => c,
        });
    }
    Some(out)
}

/// `range vector from <t> to <t> step <d>` → (start, step).
fn parse_range_expect(e: &str) -> Option<(Timestamp, Timestamp)> {
    let w: Vec<&str> = e.split_whitespace().collect();
    match w.as_slice() {
        ["range", "vector", "from", start, "to", _end, "step", step] => {
            Some((parse_test_duration(start)?, parse_test_duration(step)?))
        }
        _ => None,
    }
}

/// Parses a whole file.
pub fn parse_file(text: &str) -> Vec<Command> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    // The block of non-empty, non-command lines following line `i`.
    let block = |i: usize| -> Vec<(usize, &str)> {
        lines[i + 1..]
            .iter()
            .enumerate()
            .map(|(k, l)| (i + 1 + k, l.trim()))
            .take_while(|(_, l)| !l.is_empty() && !is_command(l))
            .filter(|(_, l)| !l.starts_with('#'))
            .collect()
    };
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let body = block(i);
        let next = body.last().map_or(i + 1, |(n, _)| n + 1);
        cmds.push(parse_command(i + 1, line, &body));
        i = next;
    }
    cmds
}

fn is_command(l: &str) -> bool {
    matches!(
        l.split_whitespace().next(),
        Some("load" | "load_with_nhcb" | "clear" | "eval" | "eval_fail" | "eval_ordered" | "eval_warn" | "eval_info")
    )
}

fn parse_command(line_no: usize, line: &str, body: &[(usize, &str)]) -> Command {
    let unknown = || Command::Unknown { line: line_no, text: line.to_string() };
    let mut words = line.splitn(2, ' ');
    let (cmd, rest) = (words.next().unwrap_or(""), words.next().unwrap_or("").trim());
    match cmd {
        "clear" => Command::Clear,
        "load" | "load_with_nhcb" => {
            let Some(interval) = parse_test_duration(rest) else { return unknown() };
            let mut series = Vec::new();
            let mut unreadable = Vec::new();
            for (_, l) in body {
                let desc = parse_series_desc(l);
                match desc.as_ref().and_then(|(labels, vals)| SeriesLine::parse(labels.clone(), vals)) {
                    Some(s) => series.push(s),
                    None => unreadable.push(desc.and_then(|(labels, _)| labels.metric_name().map(str::to_string))),
                }
            }
            Command::Load { interval, series, unreadable, nhcb: cmd == "load_with_nhcb" }
        }
        "eval" | "eval_fail" | "eval_ordered" | "eval_warn" | "eval_info" => {
            let mut expect = Expect { fail: cmd == "eval_fail", ordered: cmd == "eval_ordered", ..Default::default() };
            expect.annotations.warn = cmd == "eval_warn";
            expect.annotations.info = cmd == "eval_info";
            let (instant, start, end, step, expr) = if let Some(r) = rest.strip_prefix("instant at ") {
                let Some((t, expr)) = r.split_once(' ') else { return unknown() };
                let Some(t) = parse_test_duration(t) else { return unknown() };
                (true, t, t, 1, expr)
            } else if let Some(r) = rest.strip_prefix("range from ") {
                let parts: Vec<&str> = r.splitn(6, ' ').collect();
                if parts.len() < 6 || parts[1] != "to" || parts[3] != "step" {
                    return unknown();
                }
                let (Some(s), Some(e), Some(st)) =
                    (parse_test_duration(parts[0]), parse_test_duration(parts[2]), parse_test_duration(parts[4]))
                else {
                    return unknown();
                };
                (false, s, e, st, parts[5])
            } else {
                return unknown();
            };
            for (_, l) in body {
                if let Some(e) = l.strip_prefix("expect ") {
                    match e.split_whitespace().next().unwrap_or("") {
                        "fail" => {
                            expect.fail = true;
                            let detail = e["fail".len()..].trim();
                            if let Some(m) = detail.strip_prefix("msg:") {
                                expect.fail_message = Some(FailMessage::Exact(m.trim().to_string()));
                            } else if let Some(r) = detail.strip_prefix("regex:") {
                                expect.fail_message = Some(FailMessage::Regex(r.trim().to_string()));
                            } else if !detail.is_empty() {
                                expect.unsupported = Some(format!("expect {e}"));
                            }
                        }
                        "ordered" => expect.ordered = true,
                        kind @ ("warn" | "info" | "no_warn" | "no_info") => {
                            let detail = e[kind.len()..].trim();
                            let text = if let Some(m) = detail.strip_prefix("msg:") {
                                Some(FailMessage::Exact(m.trim().to_string()))
                            } else if let Some(r) = detail.strip_prefix("regex:") {
                                Some(FailMessage::Regex(r.trim().to_string()))
                            } else if detail.is_empty() {
                                None
                            } else {
                                expect.unsupported = Some(format!("expect {e}"));
                                None
                            };
                            let a = &mut expect.annotations;
                            match (kind, text) {
                                ("warn", Some(t)) => a.warnings.push(t),
                                ("info", Some(t)) => a.infos.push(t),
                                ("warn", None) => a.warn = true,
                                ("info", None) => a.info = true,
                                ("no_warn", _) => a.no_warn = true,
                                _ => a.no_info = true,
                            }
                        }
                        "string" => match unquote(e["string".len()..].trim()) {
                            Some(v) => expect.string = Some(v),
                            None => expect.unsupported = Some(format!("expect {e}")),
                        },
                        "range" => match parse_range_expect(e) {
                            Some(r) => expect.range = Some(r),
                            None => expect.unsupported = Some(format!("expect {e}")),
                        },
                        other => expect.unsupported = Some(format!("expect {other}")),
                    }
                } else if let Some(v) =
                    l.split_whitespace().next().filter(|_| l.split_whitespace().count() == 1).and_then(parse_number)
                {
                    expect.scalar = Some(v);
                } else if l.starts_with('"') {
                    expect.unsupported = Some("string results".into());
                } else {
                    match parse_series_desc(l).and_then(|(labels, vals)| SeriesLine::parse(labels, vals)) {
                        Some(s) => expect.series.push(s),
                        None => expect.unsupported = Some(format!("result line {l:?}")),
                    }
                }
            }
            let result_lines = body.iter().filter(|(_, l)| !l.starts_with("expect ")).map(|(n, _)| *n).collect();
            let last_line = body.last().map_or(line_no - 1, |(n, _)| *n);
            Command::Eval {
                line: line_no,
                expr: expr.to_string(),
                start,
                end,
                step,
                instant,
                expect: Box::new(expect),
                result_lines,
                last_line,
            }
        }
        _ => unknown(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_notation() {
        let v = parse_values("0+10x3 _ 5x1 _x2 -1-1x1 1e3").unwrap();
        assert_eq!(
            v,
            vec![
                Some(0.0),
                Some(10.0),
                Some(20.0),
                Some(30.0),
                None,
                Some(5.0),
                Some(5.0),
                None,
                None,
                Some(-1.0),
                Some(-2.0),
                Some(1000.0)
            ]
        );
        assert!(parse_values("{{schema:1}}").is_none());
        assert!(parse_values("stale").unwrap()[0].unwrap().is_nan());
    }

    #[test]
    fn series_desc() {
        let (l, rest) = parse_series_desc(r#"m{a="x y", b="}"} 1 2"#).unwrap();
        assert_eq!(l.to_string(), r#"m{a="x y", b="}"}"#);
        assert_eq!(rest.trim(), "1 2");
        let (l, _) = parse_series_desc("{} 3").unwrap();
        assert!(l.is_empty());
    }
}
