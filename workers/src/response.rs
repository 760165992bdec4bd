//! What a function's answer means (`[response]` in a scenario): where its OCC retries
//! are, what marks a business refusal in a successful answer, where its own duration is,
//! which function error types are OCC conflicts, and which numeric fields to histogram.
//! The defaults fit the DAT401 workshop's function (`{"balance"|"error", "duration",
//! "retries"}`) and the built-in one (`duration_us`, errors ending `after N retries`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::stats::ErrorClass;
use crate::target::Outcome;

/// The unit a duration field is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Us,
    Ms,
    S,
}

impl TimeUnit {
    /// A value in this unit, in microseconds (negative and non-finite values: none).
    pub fn micros(self, v: f64) -> Option<u64> {
        let us = match self {
            TimeUnit::Us => v,
            TimeUnit::Ms => v * 1e3,
            TimeUnit::S => v * 1e6,
        };
        (us.is_finite() && us >= 0.0).then(|| us.round() as u64)
    }

    pub fn parse(s: &str) -> Option<TimeUnit> {
        match s {
            "us" => Some(TimeUnit::Us),
            "ms" => Some(TimeUnit::Ms),
            "s" => Some(TimeUnit::S),
            _ => None,
        }
    }
}

/// A field of the answer to histogram: `name` in reports, read at `pointer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub pointer: String,
}

/// How answers are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMap {
    /// JSON pointer to the OCC retries in a successful answer.
    pub retries: String,
    /// JSON pointer to a business refusal: a successful answer with a value there other
    /// than `null` or `false` is counted as refused, under that value's text.
    pub refusal: String,
    /// The function's own duration: a pointer and its unit. `None`: `/duration_us` in
    /// microseconds, else `/duration` in milliseconds.
    pub duration: Option<(String, TimeUnit)>,
    /// Function error types (`errorType`) that are OCC conflicts.
    pub occ_error_types: Vec<String>,
    /// Numeric fields of successful answers histogrammed by name (values rounded to
    /// integers; negative ones are not recorded).
    pub fields: Vec<Field>,
}

impl Default for ResponseMap {
    fn default() -> Self {
        ResponseMap {
            retries: "/retries".into(),
            refusal: "/error".into(),
            duration: None,
            occ_error_types: vec![transfer::error::OCC_CONFLICT.to_string()],
            fields: Vec::new(),
        }
    }
}

/// What one answer means for the statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Classified {
    /// The error class and breakdown message; `None` for a success.
    pub error: Option<(ErrorClass, String)>,
    /// The function's reported duration, microseconds.
    pub function_us: Option<u64>,
    /// The OCC retries it reported.
    pub retries: Option<u64>,
    /// The mapped fields it carried, by name (empty, without allocating, when none are
    /// mapped).
    pub fields: Vec<(String, u64)>,
}

impl ResponseMap {
    /// Read one outcome.
    pub fn classify(&self, outcome: &Outcome) -> Classified {
        match outcome {
            Outcome::Response(v) => self.answer(v),
            Outcome::FunctionError { error_type, message } => function_error(error_type, message),
            Outcome::Throttled { reason } => {
                Classified::failed(ErrorClass::Throttle, format!("TooManyRequestsException: {reason}"))
            }
            Outcome::ServiceError { code, .. } => Classified::failed(ErrorClass::Service, code.clone()),
            Outcome::Transport { message } => {
                Classified::failed(ErrorClass::Transport, message.chars().take(160).collect())
            }
        }
    }

    /// Whether a breakdown message of the `function` class is one of the OCC types.
    pub fn occ_types(&self) -> Vec<&str> {
        self.occ_error_types.iter().map(String::as_str).collect()
    }

    fn answer(&self, v: &Value) -> Classified {
        let function_us = match &self.duration {
            Some((pointer, unit)) => v.pointer(pointer).and_then(Value::as_f64).and_then(|x| unit.micros(x)),
            None => v["duration_us"].as_u64().or_else(|| v["duration"].as_u64().map(|ms| ms * 1_000)),
        };
        let retries = v.pointer(&self.retries).and_then(Value::as_u64);
        let error = match v.pointer(&self.refusal) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::String(m)) => Some((ErrorClass::Business, m.clone())),
            Some(other) => Some((ErrorClass::Business, other.to_string())),
        };
        let fields = self
            .fields
            .iter()
            .filter_map(|f| Some((f.name.clone(), v.pointer(&f.pointer).and_then(Value::as_f64).and_then(whole)?)))
            .collect();
        Classified { error, function_us, retries, fields }
    }
}

/// A non-negative finite number, rounded.
fn whole(x: f64) -> Option<u64> {
    (x.is_finite() && x >= 0.0).then(|| x.round() as u64)
}

impl Classified {
    /// A call that failed this way, with nothing else known of it.
    pub fn failed(class: ErrorClass, message: String) -> Classified {
        Classified { error: Some((class, message)), ..Classified::default() }
    }
}

/// A function error; a failed transaction states its retries: `... after N retries`.
fn function_error(error_type: &str, message: &str) -> Classified {
    let counted = message.rsplit_once(" after ").and_then(|(m, tail)| {
        let n = tail.strip_suffix(transfer::error::RETRIES_SUFFIX)?.parse::<u64>().ok()?;
        Some((m, n))
    });
    let (message, retries) = counted.map_or((message, None), |(m, n)| (m, Some(n)));
    Classified {
        error: Some((ErrorClass::Function, format!("{error_type}: {message}"))),
        retries,
        ..Classified::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map() -> ResponseMap {
        ResponseMap::default()
    }

    #[test]
    fn the_workshop_functions_answers_need_no_configuration() {
        // `index.ts` of the workshop: success and business error, no function error.
        let ok = map().classify(&Outcome::Response(json!({"balance": 90, "duration": 12, "retries": 2})));
        assert_eq!((ok.error, ok.function_us, ok.retries), (None, Some(12_000), Some(2)));
        let refused =
            map().classify(&Outcome::Response(json!({"error": "Insufficient balance", "duration": 3, "retries": 0})));
        assert_eq!(refused.error, Some((ErrorClass::Business, "Insufficient balance".into())));
        assert_eq!((refused.function_us, refused.retries), (Some(3_000), Some(0)));
        assert!(refused.fields.is_empty(), "no fields asked for, none read");
    }

    #[test]
    fn pointers_units_and_refusals_come_from_the_map() {
        let m = ResponseMap {
            retries: "/meta/occ/attempts".into(),
            refusal: "/status/rejected".into(),
            duration: Some(("/meta/elapsed".into(), TimeUnit::S)),
            occ_error_types: vec!["ConflictError".into()],
            fields: vec![
                Field { name: "db_ms".into(), pointer: "/meta/db".into() },
                Field { name: "absent".into(), pointer: "/nope".into() },
            ],
        };
        let answer =
            json!({"meta": {"occ": {"attempts": 4}, "elapsed": 0.0125, "db": 7.6}, "status": {"rejected": false}});
        let c = m.classify(&Outcome::Response(answer));
        assert_eq!((c.error, c.function_us, c.retries), (None, Some(12_500), Some(4)));
        assert_eq!(c.fields, [("db_ms".to_string(), 8)], "rounded; an absent field is not recorded");
        let refusal = json!({"status": {"rejected": {"code": "OVERSOLD"}}});
        let c = m.classify(&Outcome::Response(refusal));
        assert_eq!(c.error, Some((ErrorClass::Business, r#"{"code":"OVERSOLD"}"#.into())));
        assert_eq!(m.occ_types(), ["ConflictError"]);
    }

    #[test]
    fn errors_keep_their_classes_and_a_failed_transaction_its_retries() {
        let occ = Outcome::FunctionError {
            error_type: "OccConflict".into(),
            message: format!("conflict (40001) after 3{}", transfer::error::RETRIES_SUFFIX),
        };
        let c = map().classify(&occ);
        assert_eq!(c.error, Some((ErrorClass::Function, "OccConflict: conflict (40001)".into())));
        assert_eq!(c.retries, Some(3));
        let t =
            map().classify(&Outcome::Throttled { reason: "ReservedFunctionConcurrentInvocationLimitExceeded".into() });
        assert_eq!(t.error.unwrap().0, ErrorClass::Throttle);
        assert_eq!(map().occ_types(), [transfer::error::OCC_CONFLICT]);
    }
}
