//! `[response]`: what the function's answers mean. Every key is optional; the defaults
//! fit the workshop's function and the built-in one.

use workers::response::{Field, ResponseMap, TimeUnit};

use super::raw::RawResponse;
use super::{ScenarioError, Source, F};

/// A JSON pointer (RFC 6901): empty (the whole answer) or starting with `/`.
fn pointer(src: &Source, f: F<String>, key: &str) -> Result<String, ScenarioError> {
    if f.v.is_empty() || f.v.starts_with('/') {
        Ok(f.v)
    } else {
        Err(src.err(f.at, format!("response.{key} must be a JSON pointer such as \"/{}\", got {:?}", f.v, f.v)))
    }
}

pub(super) fn response(src: &Source, raw: &RawResponse) -> Result<ResponseMap, ScenarioError> {
    let mut map = ResponseMap::default();
    if let Some(f) = src.f(raw.retries.clone()) {
        map.retries = pointer(src, f, "retries")?;
    }
    if let Some(f) = src.f(raw.refusal.clone()) {
        map.refusal = pointer(src, f, "refusal")?;
    }
    let unit = match src.f(raw.duration_unit.clone()) {
        None => None,
        Some(f) => Some(TimeUnit::parse(&f.v).ok_or_else(|| {
            src.err(&f.at, format!("response.duration_unit {:?} is not one of \"us\", \"ms\", \"s\"", f.v))
        })?),
    };
    match (src.f(raw.duration.clone()), unit) {
        (Some(f), unit) => map.duration = Some((pointer(src, f, "duration")?, unit.unwrap_or(TimeUnit::Ms))),
        (None, Some(_)) => {
            let at = src.f(raw.duration_unit.clone()).map_or_else(String::new, |f| f.at);
            return Err(src.err(at, "response.duration_unit needs response.duration (the pointer it applies to)"));
        }
        (None, None) => {}
    }
    if let Some(f) = src.f(raw.occ_error_types.clone()) {
        if f.v.iter().any(|t| t.trim().is_empty()) {
            return Err(src.err(f.at, "response.occ_error_types must not contain an empty error type"));
        }
        map.occ_error_types = f.v;
    }
    for (name, at) in raw.fields.iter().flatten() {
        let f = src.f(Some(at.clone())).expect("given");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(src.err(f.at, format!("response.fields name {name:?} must be letters, digits and _")));
        }
        map.fields.push(Field { name: name.clone(), pointer: pointer(src, f, &format!("fields.{name}"))? });
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Overrides};
    use workers::response::{Field, ResponseMap, TimeUnit};

    fn map(text: &str) -> Result<ResponseMap, String> {
        let text = format!("{text}\n[load]\nmodel = \"closed\"\nin_flight = 1\ncalls = 1\n");
        parse("s.toml", &text, &Overrides::default()).map(|p| p.engine.response).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_fit_the_workshops_function_and_keys_replace_them() {
        assert_eq!(map("").unwrap(), ResponseMap::default());
        let m = map("[response]\nretries = \"/meta/retries\"\nrefusal = \"/rejected\"\nduration = \"/took\"\n\
             duration_unit = \"us\"\nocc_error_types = [\"Conflict\", \"OccConflict\"]\n\
             fields = { db = \"/db_ms\" }\n")
        .unwrap();
        assert_eq!(m.retries, "/meta/retries");
        assert_eq!(m.refusal, "/rejected");
        assert_eq!(m.duration, Some(("/took".to_string(), TimeUnit::Us)));
        assert_eq!(m.occ_error_types, ["Conflict", "OccConflict"]);
        assert_eq!(m.fields, [Field { name: "db".into(), pointer: "/db_ms".into() }]);
        assert_eq!(map("[response]\nduration = \"/d\"\n").unwrap().duration, Some(("/d".into(), TimeUnit::Ms)));
    }

    #[test]
    fn bad_values_are_refused_where_they_are() {
        let e = map("[response]\nretries = \"retries\"\n").unwrap_err();
        assert_eq!(e, "s.toml:2:11: response.retries must be a JSON pointer such as \"/retries\", got \"retries\"");
        let e = map("[response]\nduration = \"/d\"\nduration_unit = \"min\"\n").unwrap_err();
        assert!(e.starts_with("s.toml:3:17: response.duration_unit \"min\""), "{e}");
        let e = map("[response]\nduration_unit = \"ms\"\n").unwrap_err();
        assert!(e.starts_with("s.toml:2:17: response.duration_unit needs response.duration"), "{e}");
        let e = map("[response]\nfields = { \"a b\" = \"/x\" }\n").unwrap_err();
        assert!(e.contains("response.fields name \"a b\""), "{e}");
        let e = map("[response]\nwhat = 1\n").unwrap_err();
        assert!(e.starts_with("s.toml:2:1: unknown field `what`"), "{e}");
    }
}
