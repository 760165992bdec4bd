//! `[data]` beyond the built-in accounts: the scenario's own schema (`setup`, a file of
//! SQL statements), rows (`[[data.load]]`, run in parallel batches), what a reset runs
//! (`reset`), and named integers (`[data.values]`) for the loads and the invariants.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::raw::{IntOrName, RawData};
use super::{DataSpec, ScenarioError, Source};

/// The most rows one load transaction may write: DSQL refuses transactions that mutate
/// more than 3,000 rows.
pub const MAX_BATCH: i64 = 3_000;
/// Rows per load transaction unless `batch` says otherwise.
pub const DEFAULT_BATCH: i64 = 1_000;
/// Names the invariants give the run's counts and the value before the load: not for
/// `[data.values]`.
const RESERVED: [&str; 7] = ["accounts", "initial_balance", "calls", "successes", "failures", "unknown", "before"];

/// The scenario's own data: with `setup` or a load it replaces the built-in accounts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DataPlan {
    /// Statements run in order, each its own transaction (`data.setup`).
    pub setup: Option<SqlFile>,
    /// Statements run when the run resets the data, before the loads (`data.reset`).
    pub reset: Option<SqlFile>,
    pub loads: Vec<LoadSpec>,
    /// `[data.values]`.
    pub values: BTreeMap<String, i64>,
}

/// A file of SQL statements, as read when the scenario was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqlFile {
    pub path: String,
    pub statements: Vec<String>,
}

/// `[[data.load]]`: `sql` run over `1..=rows` in batches of at most `batch` rows, `$1`
/// and `$2` bound to each batch's first and last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSpec {
    pub sql: String,
    pub rows: i64,
    pub batch: i64,
}

impl DataPlan {
    /// Whether the scenario brings its own schema or rows (no built-in accounts then).
    pub fn is_custom(&self) -> bool {
        self.setup.is_some() || !self.loads.is_empty()
    }

    /// Every named integer: `accounts`, `initial_balance` and `[data.values]`.
    pub fn values(&self, data: DataSpec) -> BTreeMap<String, i64> {
        let mut all = self.values.clone();
        all.insert("accounts".into(), data.accounts.into());
        all.insert("initial_balance".into(), data.initial_balance.into());
        all
    }
}

/// Validate `[data]`'s own keys (`data` holds the built-in ones, validated already).
pub fn parse(src: &Source, raw: &RawData, data: DataSpec) -> Result<DataPlan, ScenarioError> {
    let mut plan = DataPlan::default();
    if let Some(values) = &raw.values {
        for (name, v) in values.get_ref() {
            let at = src.at(v.span().start);
            if !is_name(name) {
                return Err(src.err(at, format!("data.values: {name:?} is not a name (letters, digits and _)")));
            }
            if RESERVED.contains(&name.as_str()) {
                return Err(src.err(at, format!("data.values: {name:?} is reserved ({})", RESERVED.join(", "))));
            }
            plan.values.insert(name.clone(), *v.get_ref());
        }
    }
    let values = plan.values(data);
    for l in raw.load.iter().flat_map(|l| l.get_ref()) {
        plan.loads.push(load(src, l.get_ref(), &values)?);
    }
    if let (Some(f), None, true) = (src.f(raw.reset.clone()), &raw.setup, plan.loads.is_empty()) {
        return Err(
            src.err(f.at, "data.reset goes with data.setup or [[data.load]]: the built-in accounts reset themselves")
        );
    }
    plan.setup = src.f(raw.setup.clone()).map(|f| sql_file(src, &f.v, &f.at)).transpose()?;
    plan.reset = src.f(raw.reset.clone()).map(|f| sql_file(src, &f.v, &f.at)).transpose()?;
    Ok(plan)
}

pub(super) fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn load(src: &Source, l: &super::raw::RawDataLoad, values: &BTreeMap<String, i64>) -> Result<LoadSpec, ScenarioError> {
    let sql = l.sql.get_ref().trim().to_string();
    if !(sql.contains("$1") && sql.contains("$2")) {
        return Err(src.err(
            src.at(l.sql.span().start),
            "data.load.sql must use $1 and $2 (each batch's first and last row number), \
             e.g. SELECT g FROM generate_series($1::int, $2::int) g",
        ));
    }
    let rows_at = src.at(l.rows.span().start);
    let rows = match l.rows.get_ref() {
        IntOrName::Int(n) => *n,
        IntOrName::Name(name) => *values.get(name).ok_or_else(|| {
            let known: Vec<&str> = values.keys().map(String::as_str).collect();
            src.err(&rows_at, format!("data.load.rows: no value named {name:?} (known: {})", known.join(", ")))
        })?,
    };
    if rows < 1 {
        return Err(src.err(rows_at, format!("data.load.rows must be at least 1, got {rows}")));
    }
    let batch = match src.f(l.batch.clone()) {
        None => DEFAULT_BATCH,
        Some(f) if !(1..=MAX_BATCH).contains(&f.v) => {
            return Err(src.err(
                f.at,
                format!(
                    "data.load.batch must be between 1 and {MAX_BATCH} (DSQL refuses transactions over \
                     {MAX_BATCH} mutated rows), got {}",
                    f.v
                ),
            ))
        }
        Some(f) => f.v,
    };
    Ok(LoadSpec { sql, rows, batch })
}

/// Read a file of statements, its path relative to the scenario's folder.
fn sql_file(src: &Source, file: &str, at: &str) -> Result<SqlFile, ScenarioError> {
    let path = Path::new(src.path).parent().unwrap_or(Path::new("")).join(file);
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| src.err(at, format!("cannot read {shown}: {e}")))?;
    let statements = split_statements(&text);
    if statements.is_empty() {
        return Err(src.err(at, format!("{shown} holds no SQL statement")));
    }
    Ok(SqlFile { path: shown, statements })
}

/// SQL text cut into statements at each `;` outside quotes, dollar quotes and comments;
/// statements holding nothing but comments are dropped.
pub fn split_statements(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let (mut out, mut start, mut i, mut code) = (Vec::new(), 0, 0, false);
    let push = |from: usize, to: usize, code: bool, out: &mut Vec<String>| {
        let s = text[from..to].trim();
        if code && !s.is_empty() {
            out.push(s.to_string());
        }
    };
    while i < b.len() {
        let rest = &text[i..];
        let skip = if rest.starts_with("--") {
            rest.find('\n').map_or(rest.len(), |n| n + 1)
        } else if rest.starts_with("/*") {
            rest.find("*/").map_or(rest.len(), |n| n + 2)
        } else {
            0
        };
        if skip > 0 {
            i += skip;
            // Comments before a statement are not part of it.
            start = if code { start } else { i };
            continue;
        }
        match b[i] {
            b';' => {
                push(start, i, code, &mut out);
                (start, code) = (i + 1, false);
                i += 1;
                continue;
            }
            b'\'' | b'"' => i = quoted_end(b, i),
            b'$' => i = dollar_end(text, i),
            c if c.is_ascii_whitespace() => {
                i += 1;
                start = if code { start } else { i };
                continue;
            }
            _ => i += 1,
        }
        code = true;
    }
    push(start, b.len(), code, &mut out);
    out
}

/// Past the quote opened at `i` (a doubled quote is part of the text).
fn quoted_end(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

/// Past a `$tag$ ... $tag$` quote starting at `i`, or just past the `$` (a parameter
/// such as `$1`).
fn dollar_end(text: &str, i: usize) -> usize {
    let rest = &text[i + 1..];
    let Some(close) = rest.find('$') else { return i + 1 };
    let tag = &rest[..close];
    if !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || tag.starts_with(|c: char| c.is_ascii_digit()) {
        return i + 1;
    }
    let delimiter = format!("${tag}$");
    let body = i + delimiter.len();
    text[body..].find(&delimiter).map_or(text.len(), |n| body + n + delimiter.len())
}
