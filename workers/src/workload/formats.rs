//! The text formats generators read and write: UUIDs, RFC 3339 timestamps, and the rows
//! of a data file (CSV with a header, or JSON Lines).

use serde_json::{Map, Value};

/// A version 4 UUID made of 16 random bytes, in its usual text form.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC, e.g. `2026-01-31T12:00:00.250Z`.
pub fn rfc3339(ms: i64) -> String {
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = transfer::civil::civil_from_days(days);
    let (h, min, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1_000 % 60, in_day % 1_000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// RFC 3339 text (`2026-01-31T12:00:00Z`, fractions and `+02:00` offsets allowed) as
/// milliseconds since the Unix epoch.
pub fn parse_rfc3339(t: &str) -> Result<i64, String> {
    let bad = || format!("{t:?} is not an RFC 3339 time like \"2026-01-31T12:00:00Z\"");
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| t.get(r).and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad);
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let mut rest = &t[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
        if digits == 0 {
            return Err(bad());
        }
        ms = format!("{:0<3}", &frac[..digits.min(3)]).parse::<i64>().map_err(|_| bad())?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let v = num(t.len() - 5..t.len() - 3)? * 60 + num(t.len() - 2..t.len())?;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return Err(bad()),
    };
    let secs = transfer::civil::days_from_civil(y, mo, d) * 86_400 + h * 3_600 + mi * 60 + s - offset_min * 60;
    Ok(secs * 1_000 + ms)
}

/// A data file's columns and rows, or the 1-based line that is wrong and why.
pub type Rows = (Vec<String>, Vec<Vec<Value>>);

/// A CSV file with a header line. Fields may be quoted (`"a, b"`, `""` for a quote);
/// a field that reads as a plain JSON number (`42`, `-1.5`, not `007` or `+1`) becomes
/// a number, every other field a string.
pub fn csv_rows(text: &str) -> Result<Rows, (usize, String)> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or((1, "the file is empty: it needs a header line".to_string()))?;
    let columns: Vec<String> = csv_fields(header).map_err(|m| (1, m))?;
    let mut rows = Vec::new();
    for (i, line) in lines {
        let fields = csv_fields(line).map_err(|m| (i + 1, m))?;
        if fields.len() != columns.len() {
            return Err((i + 1, format!("{} fields, but the header has {}", fields.len(), columns.len())));
        }
        rows.push(fields.into_iter().map(|f| typed(&f)).collect());
    }
    Ok((columns, rows))
}

fn typed(field: &str) -> Value {
    let plain = field.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'.' | b'e' | b'E'));
    match serde_json::from_str::<serde_json::Number>(field) {
        Ok(n) if plain && n.to_string() == field => Value::Number(n),
        _ => Value::String(field.to_string()),
    }
}

/// One CSV line's fields.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted field is not closed".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err(format!("text after the closing quote of field {}", fields.len() + 1));
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                field.push(c);
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

/// JSON Lines: one JSON object per line; the columns are the first object's keys, and
/// every object must have exactly those.
pub fn json_lines_rows(text: &str) -> Result<Rows, (usize, String)> {
    let mut columns: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let object: Map<String, Value> = serde_json::from_str(line).map_err(|e| (i + 1, e.to_string()))?;
        let cols = columns.get_or_insert_with(|| object.keys().cloned().collect());
        if object.len() != cols.len() || !cols.iter().all(|c| object.contains_key(c)) {
            return Err((i + 1, format!("the keys differ from the first line's: {}", cols.join(", "))));
        }
        rows.push(cols.iter().map(|c| object[c].clone()).collect());
    }
    Ok((columns.ok_or((1, "the file has no rows".to_string()))?, rows))
}
