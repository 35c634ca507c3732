//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus semantics: regexes
//! are fully anchored, and a missing label matches as the empty string.

use std::fmt;

use regex::Regex;

use crate::error::{Error, Result};

/// The four matcher operators of PromQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: the label equals the value.
    Equal,
    /// `!=`: the label differs from the value.
    NotEqual,
    /// `=~`: the label fully matches the regex.
    RegexMatch,
    /// `!~`: the label does not fully match the regex.
    RegexNoMatch,
}

/// One compiled label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name matched.
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The value, or the regex source for the regex operators.
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher, compiling the regex of `=~` and `!~` (an invalid one is an error).
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(
                Regex::new(&format!("^(?s:{value})$"))
                    .map_err(|e| Error::InvalidMatcher(format!("invalid regex {value:?} for label {name:?}: {e}")))?,
            ),
            _ => None,
        };
        Ok(Self { name, op, value, regex })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), op: MatchOp::Equal, value: value.into(), regex: None }
    }

    /// Whether a label value (`""` when the label is absent) matches.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::RegexMatch => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::RegexNoMatch => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether the empty string matches, i.e. series *without* the label match.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For a regex that is a plain alternation of literals (`a|b|c`), the
    /// literals: lets an index answer it with lookups instead of a scan.
    pub fn set_literals(&self) -> Option<Vec<&str>> {
        if !matches!(self.op, MatchOp::RegexMatch | MatchOp::RegexNoMatch) {
            return None;
        }
        let is_meta = |c: char| "\\.+*?()|[]{}^$".contains(c);
        let parts: Vec<&str> = self.value.split('|').collect();
        parts.iter().all(|p| !p.chars().any(is_meta)).then_some(parts)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

/// Whether a label set satisfies every matcher.
pub fn matches_all(matchers: &[Matcher], labels: &crate::labels::Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;

    #[test]
    fn regex_is_anchored_and_missing_label_is_empty() {
        let m = Matcher::new(MatchOp::RegexMatch, "job", "no.e").unwrap();
        assert!(m.matches("node"));
        assert!(!m.matches("xnode"));
        let l = Labels::from_pairs([("a", "1")]).unwrap();
        assert!(matches_all(&[Matcher::new(MatchOp::Equal, "job", "").unwrap()], &l));
        assert!(!matches_all(&[Matcher::new(MatchOp::NotEqual, "job", "").unwrap()], &l));
        assert!(Matcher::new(MatchOp::RegexMatch, "a", "(").is_err());
    }

    #[test]
    fn set_literals_detects_alternations() {
        let m = Matcher::new(MatchOp::RegexMatch, "a", "x|y|z").unwrap();
        assert_eq!(m.set_literals(), Some(vec!["x", "y", "z"]));
        assert_eq!(Matcher::new(MatchOp::RegexMatch, "a", "x.*").unwrap().set_literals(), None);
    }
}
