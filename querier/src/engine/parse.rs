//! Parsing that no query text can crash: a lexical pre-check refuses text
//! with more than [`MAX_OPERATORS`] operators and parentheses before the
//! parser sees it (the parser's time grows faster than linearly with
//! nesting: 100,000 levels take minutes), the parser runs on one of a few
//! long-lived threads with large stacks (short queries, which cannot nest
//! deeply, are parsed in place), the nesting depth of the result is measured without
//! recursion, and a query deeper than [`MAX_DEPTH`] is refused with 400
//! "query too complex" (its syntax tree is dropped on the large stack too).
//!
//! Everything after parsing (planning, the cost estimate, evaluation, and
//! dropping the tree) recurses once per level, so the depth limit is what
//! keeps those within an ordinary 2 MiB thread stack. Real queries nest a
//! few dozen levels; the limit leaves a wide margin for generated ones.

use std::sync::OnceLock;

use promql_parser::parser::Expr;

use super::pool::EvalPool;
use crate::error::{Error, Result};

/// Deepest syntax tree accepted (operators, calls, parentheses and
/// aggregations each count one level).
pub const MAX_DEPTH: usize = 256;

/// Most operators and opening parentheses outside string literals and
/// label matchers, before parsing (a bound on the tree's size and depth).
pub const MAX_OPERATORS: usize = 2048;

/// Queries with at most this many operators and parentheses nest at most
/// about as many levels, which the parser handles on any thread's stack: they
/// are parsed where they arrive, without the hop to a parser thread (a
/// dashboard query's latency is mostly such hops when the machine is busy).
const INLINE_MAX_OPERATORS: usize = 64;

/// Stack of the parsing thread: the parser and the drop of a refused tree
/// recurse once per level (a few hundred bytes each); 256 MiB covers
/// queries of millions of levels, far past any HTTP body limit. Only the
/// pages touched are ever backed by memory.
const PARSE_STACK_BYTES: usize = 256 << 20;

/// Parses `query`; `param` names the request parameter in errors (`query`,
/// `match[]`).
pub fn parse(query: &str, param: &str) -> Result<Box<Expr>> {
    let operators = count_operators(query);
    if operators > MAX_OPERATORS {
        return Err(Error::BadData(format!(
            "invalid parameter \"{param}\": query too complex: {operators} operators and parentheses, the limit is {MAX_OPERATORS}"
        )));
    }
    if operators <= INLINE_MAX_OPERATORS {
        return parse_checked(query, param);
    }
    let (query, param) = (query.to_string(), param.to_string());
    parser_threads()?
        .run_blocking(move || parse_checked(&query, &param))
        .unwrap_or_else(|| Err(Error::Internal("the query parser panicked".into())))
}

/// Parses `query` on the calling thread and refuses a tree deeper than
/// [`MAX_DEPTH`] (dropping it there).
fn parse_checked(query: &str, param: &str) -> Result<Box<Expr>> {
    let expr = promql_parser::parser::parse(query)
        .map_err(|e| Error::BadData(format!("invalid parameter \"{param}\": {e}")))?;
    let depth = depth(&expr);
    if depth > MAX_DEPTH {
        return Err(Error::BadData(format!(
            "invalid parameter \"{param}\": query too complex: it nests {depth} levels deep, the limit is {MAX_DEPTH}"
        )));
    }
    Ok(Box::new(expr))
}

/// The parser threads, started on first use: as many as the cores, each
/// with a [`PARSE_STACK_BYTES`] stack (reserved, not committed), reused by
/// every query (no thread is created per query).
fn parser_threads() -> Result<&'static EvalPool> {
    static POOL: OnceLock<std::result::Result<EvalPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = super::pool::cores();
        EvalPool::with_stack(cores, 0, "promql-parse", PARSE_STACK_BYTES).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Internal(e.clone()))
}

/// Operator characters, set-operator keywords and opening parentheses in
/// `query`, outside quoted strings and `{…}` matchers: an upper bound on
/// the number of operator nodes and nesting levels the parser could build.
pub fn count_operators(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut count, mut i, mut braces) = (0, 0, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += if bytes[i] == b'\\' && q != b'`' { 2 } else { 1 };
                }
            }
            b'{' => braces += 1,
            b'}' => braces = braces.saturating_sub(1),
            _ if braces > 0 => {}
            b'(' | b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' | b'=' | b'!' => count += 1,
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i + 1 < bytes.len() && (bytes[i + 1].is_ascii_alphanumeric() || bytes[i + 1] == b'_') {
                    i += 1;
                }
                let word = &query[start..=i];
                count += usize::from(matches!(word, "and" | "or" | "unless" | "atan2"));
            }
            _ => {}
        }
        i += 1;
    }
    count
}

/// The depth of `expr`'s tree, measured with an explicit stack.
pub fn depth(expr: &Expr) -> usize {
    let mut max = 0;
    let mut todo: Vec<(&Expr, usize)> = vec![(expr, 1)];
    while let Some((e, d)) = todo.pop() {
        max = max.max(d);
        let d = d + 1;
        match e {
            Expr::Aggregate(a) => {
                todo.push((&a.expr, d));
                if let Some(p) = &a.param {
                    todo.push((p, d));
                }
            }
            Expr::Unary(u) => todo.push((&u.expr, d)),
            Expr::Binary(b) => {
                todo.push((&b.lhs, d));
                todo.push((&b.rhs, d));
            }
            Expr::Paren(p) => todo.push((&p.expr, d)),
            Expr::Subquery(sq) => todo.push((&sq.expr, d)),
            Expr::Call(c) => todo.extend(c.args.args.iter().map(|a| (a.as_ref(), d))),
            Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_)
            | Expr::Extension(_) => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(prefix: &str, core: &str, suffix: &str, n: usize) -> String {
        format!("{}{core}{}", prefix.repeat(n), suffix.repeat(n))
    }

    #[test]
    fn operators_are_counted_outside_strings_and_matchers() {
        assert_eq!(count_operators(r#"sum(rate(x{a=~"(b|c)+"}[5m])) / 2 and y"#), 4);
        assert_eq!(count_operators(r#"label_replace(x, "a", "$1", "b", "(.*)-(.*)")"#), 1);
        assert_eq!(count_operators("band + order"), 1);
    }

    #[test]
    fn depth_counts_every_level() {
        assert_eq!(depth(&promql_parser::parser::parse("1").unwrap()), 1);
        assert_eq!(depth(&promql_parser::parser::parse("sum(rate(x[5m])) / 2").unwrap()), 4);
    }

    #[test]
    fn the_deepest_accepted_query_parses_and_deeper_ones_are_refused() {
        // `vector(1)` is two levels (the call and its argument).
        let ok = nested("abs(", "vector(1)", ")", MAX_DEPTH - 2);
        assert_eq!(depth(&parse(&ok, "query").unwrap()), MAX_DEPTH);
        let deep = nested("abs(", "vector(1)", ")", MAX_DEPTH - 1);
        let err = parse(&deep, "query").unwrap_err().to_string();
        assert!(err.contains("query too complex"), "{err}");
    }

    #[test]
    fn a_hundred_thousand_levels_are_refused_without_overflowing() {
        for (prefix, core, suffix) in [("abs(", "vector(1)", ")"), ("(", "1", ")"), ("-", "vector(1)", "")] {
            let q = nested(prefix, core, suffix, 100_000);
            let err = parse(&q, "query").unwrap_err().to_string();
            assert!(err.contains("query too complex"), "{prefix}: {err}");
        }
        let sum = vec!["1"; 100_000].join("+");
        let err = parse(&sum, "query").unwrap_err().to_string();
        assert!(err.contains("query too complex"), "{err}");
    }

    #[test]
    fn deep_trees_within_the_operator_bound_are_refused_by_depth() {
        // 3,000 terms (6 KB) crashed the process before the depth limit.
        for q in [vec!["1"; 1_000].join("+"), nested("-", "vector(1)", "", 2_000), nested("(", "1", ")", 2_000)] {
            let err = parse(&q, "query").unwrap_err().to_string();
            assert!(err.contains("query too complex"), "{err}");
        }
    }
}
