//! `[[verify]]`: the scenario's invariants, each a query and exactly one bound
//! (`equals`, `at_least`, `at_most` or `between = [lo, hi]`) over the data's values, the
//! run's counts and `before`, every expression and name checked here.

use toml::Spanned;

use crate::invariants::expr::Expr;
use crate::invariants::{Expect, Invariant, Query, Values, BEFORE, RUN_COUNTS};

use super::raw::{IntOrName, RawVerify};
use super::{ScenarioError, Source};

/// Validate every `[[verify]]` entry; `values` are the data's named integers.
pub fn parse(src: &Source, raw: &[Spanned<RawVerify>], values: &Values) -> Result<Vec<Invariant>, ScenarioError> {
    let mut out: Vec<Invariant> = Vec::new();
    for entry in raw {
        let v = entry.get_ref();
        let name = v.name.get_ref().trim().to_string();
        let name_at = src.at(v.name.span().start);
        if name.is_empty() {
            return Err(src.err(name_at, "verify.name must not be empty"));
        }
        if out.iter().any(|i| i.name == name) {
            return Err(src.err(name_at, format!("verify.name {name:?} is used twice; each invariant needs its own")));
        }
        let sql = v.sql.get_ref().trim();
        if sql.is_empty() {
            return Err(src.err(src.at(v.sql.span().start), format!("verify {name:?}: sql must not be empty")));
        }
        let expect = expect(src, v, &name, src.at(entry.span().start), values)?;
        out.push(Invariant { name, query: Query::Sql(sql.to_string()), expect });
    }
    Ok(out)
}

/// The one bound of an entry.
fn expect(src: &Source, v: &RawVerify, name: &str, at: String, values: &Values) -> Result<Expect, ScenarioError> {
    let given = [v.equals.is_some(), v.at_least.is_some(), v.at_most.is_some(), v.between.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(
            src.err(at, format!("verify {name:?}: give exactly one of equals, at_least, at_most, between = [lo, hi]"))
        );
    }
    let e = |s: &Spanned<IntOrName>, key: &str| bound(src, s, &format!("verify {name:?}: {key}"), values);
    if let Some(s) = &v.equals {
        return Ok(Expect::Equals(e(s, "equals")?));
    }
    if let Some(s) = &v.at_least {
        return Ok(Expect::AtLeast(e(s, "at_least")?));
    }
    if let Some(s) = &v.at_most {
        return Ok(Expect::AtMost(e(s, "at_most")?));
    }
    let range = v.between.as_ref().expect("one bound is given");
    match range.get_ref().as_slice() {
        [lo, hi] => Ok(Expect::Between(e(lo, "between")?, e(hi, "between")?)),
        other => Err(src.err(
            src.at(range.span().start),
            format!("verify {name:?}: between takes [lo, hi], got {} values", other.len()),
        )),
    }
}

/// One bound: an integer, or an expression whose names are all known.
fn bound(src: &Source, s: &Spanned<IntOrName>, what: &str, values: &Values) -> Result<Expr, ScenarioError> {
    let text = match s.get_ref() {
        IntOrName::Int(v) => return Ok(Expr::int(*v)),
        IntOrName::Name(text) => text,
    };
    // The text starts after the opening quote.
    let at = |offset: usize| src.at(s.span().start + 1 + offset);
    let expr = Expr::parse(text).map_err(|e| src.err(at(e.offset), format!("{what}: {e} in {text:?}")))?;
    for n in expr.names() {
        if !(values.contains_key(n) || RUN_COUNTS.contains(&n) || n == BEFORE) {
            let mut known: Vec<&str> = values.keys().map(String::as_str).collect();
            known.extend(RUN_COUNTS);
            known.push(BEFORE);
            return Err(src.err(
                at(word_offset(text, n)),
                format!("{what}: unknown name {n:?} in {text:?} (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(expr)
}

/// Where `word` first stands as a whole word in `text`.
fn word_offset(text: &str, word: &str) -> usize {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word)
        .find(|(i, _)| !text[..*i].ends_with(part) && !text[i + word.len()..].starts_with(part))
        .map_or(0, |(i, _)| i)
}
