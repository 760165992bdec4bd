//! Optimistic concurrency as Aurora DSQL does it, over PostgreSQL's row locks.
//!
//! PostgreSQL makes the second writer of a row wait for the first; DSQL never waits and
//! adjudicates at COMMIT. The front runs each write of a transaction under a savepoint
//! with a lock timeout of a millisecond. When the write would wait (or meets a row
//! already changed after the snapshot), the front rolls back to the savepoint, answers
//! the client as the write would have answered at its snapshot (a rewritten read gives
//! the rows and the count), and remembers the transactions that hold those rows (the
//! rows' `xmax`). At COMMIT: if one of them committed, the transaction gets OC000; if
//! all of them rolled back, the front runs the deferred writes again and commits.
//! See docs/local-dsql.md for where this differs from DSQL (who wins when both writers
//! are still open at the second one's COMMIT).

/// A write the front answered without applying, and whom it waited on.
#[derive(Debug, Clone)]
pub struct Deferred {
    /// The transactions that hold (or committed) the rows: xids, or `None` if unknown.
    pub blockers: Option<Vec<u64>>,
    /// The rows the client was told it changed (or, FOR UPDATE, read).
    pub count: u64,
    /// The statement, to run again at COMMIT if every blocker rolled back.
    pub sql: String,
    pub param_types: Vec<i32>,
    /// The Bind message's bytes after the names (extended protocol), or `None` (simple).
    pub bind: Option<Vec<u8>>,
}

/// How to answer a write at its snapshot without applying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// A read that returns what the write would have returned (its RETURNING list, the
    /// rows FOR UPDATE would lock) or, for `count_only`, `count(*)`.
    pub answer: String,
    pub count_only: bool,
    /// The command tag's verb and, for INSERT, its fixed row count.
    pub verb: &'static str,
    /// A read of the `xmax` of the rows the write touches (`None`: not known).
    pub blockers: Option<String>,
}

impl Rewrite {
    pub fn tag(&self, rows: u64) -> String {
        match self.verb {
            "INSERT" => format!("INSERT 0 {rows}"),
            verb => format!("{verb} {rows}"),
        }
    }
}

/// A word of SQL at parenthesis depth 0: its byte range and upper-cased text.
#[derive(Debug, Clone)]
struct Word {
    start: usize,
    end: usize,
    upper: String,
}

/// Top-level words (identifiers and keywords) outside strings, comments and parentheses.
fn top_words(sql: &str) -> Vec<Word> {
    let b = sql.as_bytes();
    let (mut i, mut depth, mut words) = (0, 0i32, Vec::new());
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' => i = skip_quoted(b, i, c),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b[i..].iter().position(|x| *x == b'\n').map_or(b.len(), |p| i + p)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => i = find(b, i + 2, b"*/").map_or(b.len(), |p| p + 2),
            b'$' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => i = skip_dollar(b, i),
            b'(' => {
                depth += 1;
                i += 1
            }
            b')' => {
                depth -= 1;
                i += 1
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                    i += 1;
                }
                if depth == 0 {
                    words.push(Word { start, end: i, upper: sql[start..i].to_ascii_uppercase() });
                }
            }
            _ => i += 1,
        }
    }
    words
}

fn skip_quoted(b: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

fn skip_dollar(b: &[u8], start: usize) -> usize {
    let Some(close) = b[start + 1..].iter().position(|x| *x == b'$') else { return start + 1 };
    let tag = &b[start..start + close + 2];
    if !tag[1..tag.len() - 1].iter().all(|x| x.is_ascii_alphanumeric() || *x == b'_') {
        return start + 1;
    }
    find(b, start + tag.len(), tag).map_or(b.len(), |p| p + tag.len())
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The text between top-level keyword `key` and the next of `stops` (or the end).
fn clause<'a>(sql: &'a str, words: &[Word], key: &str, stops: &[&str]) -> Option<&'a str> {
    let at = words.iter().position(|w| w.upper == key)?;
    let end = words[at + 1..].iter().find(|w| stops.contains(&w.upper.as_str())).map_or(sql.len(), |w| w.start);
    Some(sql[words[at].end..end].trim())
}

/// Split at top-level commas.
fn split_commas(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let (mut parts, mut depth, mut last, mut i) = (Vec::new(), 0, 0, 0);
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                i = skip_quoted(b, i, b[i]);
                continue;
            }
            b'(' => depth += 1,
            b')' => depth -= 1,
            b',' if depth == 0 => {
                parts.push(s[last..i].trim());
                last = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(s[last..].trim());
    parts
}

/// How to answer `sql` (a write, or a SELECT ... FOR UPDATE) without applying it.
pub fn rewrite(sql: &str) -> Option<Rewrite> {
    let sql = sql.trim().trim_end_matches(';');
    let words = top_words(sql);
    match words.first()?.upper.as_str() {
        "UPDATE" => rewrite_update(sql, &words),
        "DELETE" => rewrite_delete(sql, &words),
        "SELECT" => rewrite_for_update(sql, &words),
        "INSERT" => rewrite_insert(sql, &words),
        _ => None,
    }
}

fn where_clause(pred: Option<&str>) -> String {
    pred.map(|p| format!(" WHERE {p}")).unwrap_or_default()
}

fn rewrite_update(sql: &str, words: &[Word]) -> Option<Rewrite> {
    if words.iter().any(|w| w.upper == "FROM" || w.upper == "WITH") {
        return None;
    }
    let target = clause(sql, words, "UPDATE", &["SET"])?;
    let target = target.strip_prefix("ONLY ").unwrap_or(target);
    let sets = clause(sql, words, "SET", &["WHERE", "RETURNING"])?;
    let pred = clause(sql, words, "WHERE", &["RETURNING"]);
    let mut assigned = Vec::new();
    for a in split_commas(sets) {
        let (col, expr) = a.split_once('=')?;
        let col = col.trim();
        if !col.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
            return None;
        }
        assigned.push((col.to_ascii_lowercase(), expr.trim().to_string()));
    }
    let from = format!(" FROM {target}{}", where_clause(pred));
    let blockers = Some(format!("SELECT DISTINCT xmax::text FROM {target}{}", where_clause(pred)));
    let (answer, count_only) = match clause(sql, words, "RETURNING", &[]) {
        None => (format!("SELECT count(*){from}"), true),
        Some(list) if list.contains('*') => return None,
        Some(list) => {
            let items: Vec<String> = split_commas(list).into_iter().map(|item| returned(item, &assigned)).collect();
            (format!("SELECT {}{from}", items.join(", ")), false)
        }
    };
    Some(Rewrite { answer, count_only, verb: "UPDATE", blockers })
}

/// One RETURNING item with the new values; a bare assigned column keeps its name.
fn returned(item: &str, assigned: &[(String, String)]) -> String {
    match assigned.iter().find(|(col, _)| col.eq_ignore_ascii_case(item)) {
        Some((col, expr)) => format!("({expr}) AS {col}"),
        None => substitute(item, assigned),
    }
}

/// `list` with each bare reference to an assigned column replaced by its new value.
fn substitute(list: &str, assigned: &[(String, String)]) -> String {
    let b = list.as_bytes();
    let (mut out, mut i) = (String::new(), 0);
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            let end = skip_quoted(b, i, c);
            out.push_str(&list[i..end]);
            i = end;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &list[start..i];
            let qualified = start > 0 && b[start - 1] == b'.';
            match assigned.iter().find(|(col, _)| !qualified && col.eq_ignore_ascii_case(word)) {
                Some((_, expr)) => out.push_str(&format!("({expr})")),
                None => out.push_str(word),
            }
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

fn rewrite_delete(sql: &str, words: &[Word]) -> Option<Rewrite> {
    if words.iter().any(|w| w.upper == "USING" || w.upper == "WITH") {
        return None;
    }
    let target = clause(sql, words, "FROM", &["WHERE", "RETURNING"])?;
    let pred = clause(sql, words, "WHERE", &["RETURNING"]);
    let from = format!(" FROM {target}{}", where_clause(pred));
    let blockers = Some(format!("SELECT DISTINCT xmax::text{from}"));
    let (answer, count_only) = match clause(sql, words, "RETURNING", &[]) {
        None => (format!("SELECT count(*){from}"), true),
        Some(list) => (format!("SELECT {list}{from}"), false),
    };
    Some(Rewrite { answer, count_only, verb: "DELETE", blockers })
}

fn rewrite_for_update(sql: &str, words: &[Word]) -> Option<Rewrite> {
    let at = words.iter().rposition(|w| w.upper == "FOR")?;
    if words.get(at + 1)?.upper != "UPDATE" {
        return None;
    }
    let answer = sql[..words[at].start].trim().to_string();
    let single_table = clause(sql, words, "FROM", &["WHERE", "ORDER", "LIMIT", "FOR", "GROUP"])
        .filter(|t| !t.contains(',') && !words.iter().any(|w| w.upper == "JOIN"));
    let blockers = single_table.map(|t| {
        let pred = clause(sql, words, "WHERE", &["ORDER", "LIMIT", "FOR", "GROUP"]);
        format!("SELECT DISTINCT xmax::text FROM {t}{}", where_clause(pred))
    });
    Some(Rewrite { answer, count_only: false, verb: "SELECT", blockers })
}

fn rewrite_insert(sql: &str, words: &[Word]) -> Option<Rewrite> {
    if words.iter().any(|w| ["RETURNING", "SELECT", "ON"].contains(&w.upper.as_str())) {
        return None;
    }
    let values = clause(sql, words, "VALUES", &[])?;
    let rows = split_commas(values).len();
    Some(Rewrite { answer: format!("SELECT {rows}::bigint"), count_only: true, verb: "INSERT", blockers: None })
}

/// A read of the fate of `xids`: one text row per xid (`committed`, `aborted`, `in progress`).
pub fn fate_query(xids: &[u64]) -> String {
    let list: Vec<String> = xids.iter().map(|x| format!("'{x}'")).collect();
    format!("SELECT coalesce(pg_xact_status(x::xid8), 'aborted') FROM unnest(ARRAY[{}]::text[]) AS x", list.join(","))
}

/// What COMMIT does with the deferred writes, given the blockers' fates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Another transaction wrote a row first and committed (or is still open): OC000.
    Conflict,
    /// Every blocker rolled back: run the deferred writes, then commit.
    Replay,
}

pub fn verdict(fates: &[String]) -> Verdict {
    if fates.iter().all(|f| f == "aborted") {
        Verdict::Replay
    } else {
        Verdict::Conflict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_returning_is_answered_with_its_new_values() {
        let r = rewrite("UPDATE accounts SET balance = balance - $1 WHERE id = $2 RETURNING balance").unwrap();
        assert_eq!(r.answer, "SELECT (balance - $1) AS balance FROM accounts WHERE id = $2");
        assert!(!r.count_only);
        assert_eq!(r.blockers.as_deref(), Some("SELECT DISTINCT xmax::text FROM accounts WHERE id = $2"));
        assert_eq!(r.tag(1), "UPDATE 1");
    }

    #[test]
    fn an_update_without_returning_is_answered_with_its_count() {
        let r = rewrite("update accounts set balance = balance + $1, note = 'a,b' where id = $2").unwrap();
        assert_eq!(r.answer, "SELECT count(*) FROM accounts WHERE id = $2");
        assert!(r.count_only);
    }

    #[test]
    fn what_cannot_be_rewritten_is_not() {
        assert!(rewrite("UPDATE a SET x = b.x FROM b WHERE a.id = b.id").is_none());
        assert!(rewrite("UPDATE a SET (x, y) = (1, 2)").is_none());
        assert!(rewrite("UPDATE a SET x = 1 RETURNING *").is_none());
        assert!(rewrite("INSERT INTO t SELECT 1").is_none());
    }

    #[test]
    fn deletes_selects_for_update_and_inserts() {
        let d = rewrite("DELETE FROM t WHERE id = 1 RETURNING id").unwrap();
        assert_eq!(d.answer, "SELECT id FROM t WHERE id = 1");
        let s = rewrite("SELECT balance FROM accounts WHERE id = $1 FOR UPDATE").unwrap();
        assert_eq!(s.answer, "SELECT balance FROM accounts WHERE id = $1");
        assert_eq!(s.blockers.as_deref(), Some("SELECT DISTINCT xmax::text FROM accounts WHERE id = $1"));
        let i = rewrite("INSERT INTO t (a, b) VALUES (1, 'x,y'), (2, 'z')").unwrap();
        assert_eq!((i.answer.as_str(), i.tag(2).as_str()), ("SELECT 2::bigint", "INSERT 0 2"));
    }

    #[test]
    fn keywords_inside_strings_and_parentheses_are_not_clauses() {
        let r = rewrite("UPDATE t SET a = 'WHERE x' WHERE id IN (SELECT id FROM u WHERE b) RETURNING a").unwrap();
        assert_eq!(r.answer, "SELECT ('WHERE x') AS a FROM t WHERE id IN (SELECT id FROM u WHERE b)");
    }

    #[test]
    fn only_all_rolled_back_blockers_let_the_writes_through() {
        assert_eq!(verdict(&["aborted".into(), "aborted".into()]), Verdict::Replay);
        assert_eq!(verdict(&["aborted".into(), "committed".into()]), Verdict::Conflict);
        assert_eq!(verdict(&["in progress".into()]), Verdict::Conflict);
        assert!(fate_query(&[7, 9]).contains("ARRAY['7','9']"));
    }
}
