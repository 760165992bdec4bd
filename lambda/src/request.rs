//! The function's requests. The workshop's payloads work unchanged: a transfer is
//! `{"payer_id":1,"payee_id":2,"amount":10}`. The earlier chapters are selected with an
//! explicit `"op"` field: `"greeting"` (chapter 0) and `"connectivity"` (chapters 1-2).

use serde::Deserialize;
use serde_json::Value;

use crate::FunctionError;

/// One validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Chapter 0: answer without touching the database.
    Greeting { name: String },
    /// Chapters 1 and 2: `SELECT 1` over the function's database connection.
    Connectivity { name: String },
    /// Chapters 3 to 6: move `amount` from payer to payee in one transaction.
    Transfer(Transfer),
}

/// A validated transfer: positive ids, positive amount, payer != payee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub payer_id: i32,
    pub payee_id: i32,
    pub amount: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    #[serde(default = "default_name")]
    name: String,
}

fn default_name() -> String {
    "world".to_string()
}

/// Names accepted in the `op` field.
pub const OPS: &[&str] = &["transfer", "greeting", "connectivity"];

impl Request {
    /// Parse and validate a payload. Errors are `InvalidRequest` function errors that
    /// say which field was wrong and what is allowed.
    pub fn from_value(mut payload: Value) -> Result<Request, FunctionError> {
        let Some(object) = payload.as_object_mut() else {
            return Err(FunctionError::invalid(format!(
                "the payload must be a JSON object, got {}",
                kind_of(&payload)
            )));
        };
        let op = match object.remove("op") {
            None => "transfer".to_string(),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(FunctionError::invalid(format!(
                    "field `op` must be a string, one of {OPS:?}; got {}",
                    kind_of(&other)
                )))
            }
        };
        let parse_err = |e: serde_json::Error| FunctionError::invalid(format!("{op} request: {e}"));
        match op.as_str() {
            "transfer" => {
                let t = Transfer::from_object(object)?;
                t.validate()?;
                Ok(Request::Transfer(t))
            }
            "greeting" => {
                let n: Named = serde_json::from_value(payload).map_err(parse_err)?;
                Ok(Request::Greeting { name: n.name })
            }
            "connectivity" => {
                let n: Named = serde_json::from_value(payload).map_err(parse_err)?;
                Ok(Request::Connectivity { name: n.name })
            }
            _ => Err(FunctionError::invalid(format!("unknown op {op:?}: expected one of {OPS:?}"))),
        }
    }
}

impl Transfer {
    /// Read the three integer fields, naming the field in every error.
    fn from_object(object: &serde_json::Map<String, Value>) -> Result<Transfer, FunctionError> {
        const FIELDS: [&str; 3] = ["payer_id", "payee_id", "amount"];
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(FunctionError::invalid(format!(
                "transfer request: unknown field `{unknown}`, expected one of {FIELDS:?} (and `op`)"
            )));
        }
        let field = |name: &str| -> Result<i32, FunctionError> {
            match object.get(name) {
                None => Err(FunctionError::invalid(format!("transfer request: missing field `{name}`"))),
                Some(v) => v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| {
                    FunctionError::invalid(format!(
                        "transfer request: field `{name}` must be a whole number within 32 bits, got {}",
                        if v.is_number() { v.to_string() } else { kind_of(v).to_string() }
                    ))
                }),
            }
        };
        Ok(Transfer { payer_id: field(FIELDS[0])?, payee_id: field(FIELDS[1])?, amount: field(FIELDS[2])? })
    }

    /// Check what the database cannot: positive ids and amount, two different accounts.
    pub fn validate(&self) -> Result<(), FunctionError> {
        if self.amount <= 0 {
            return Err(FunctionError::invalid(format!("amount must be > 0, got {}", self.amount)));
        }
        for (field, id) in [("payer_id", self.payer_id), ("payee_id", self.payee_id)] {
            if id <= 0 {
                return Err(FunctionError::invalid(format!("{field} must be > 0, got {id}")));
            }
        }
        if self.payer_id == self.payee_id {
            return Err(FunctionError::invalid(format!(
                "payer_id and payee_id must differ, both are {}",
                self.payer_id
            )));
        }
        Ok(())
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        Request::from_value(v).unwrap_err().error_message
    }

    #[test]
    fn workshop_payload_is_a_transfer() {
        let r = Request::from_value(json!({"payer_id":1,"payee_id":2,"amount":10})).unwrap();
        assert_eq!(r, Request::Transfer(Transfer { payer_id: 1, payee_id: 2, amount: 10 }));
    }

    #[test]
    fn ops_select_the_earlier_chapters() {
        assert_eq!(
            Request::from_value(json!({"op":"greeting","name":"DAT401"})).unwrap(),
            Request::Greeting { name: "DAT401".into() }
        );
        assert_eq!(
            Request::from_value(json!({"op":"connectivity"})).unwrap(),
            Request::Connectivity { name: "world".into() }
        );
    }

    #[test]
    fn bad_payloads_name_the_field() {
        assert!(err(json!({"payer_id":1,"payee_id":2,"amount":0})).contains("amount must be > 0"));
        assert!(err(json!({"payer_id":-1,"payee_id":2,"amount":1})).contains("payer_id must be > 0"));
        assert!(err(json!({"payer_id":3,"payee_id":3,"amount":1})).contains("must differ"));
        assert!(err(json!({"payer_id":1,"payee_id":2,"amount":1,"memo":"x"})).contains("unknown field `memo`"));
        assert!(err(json!({"payer_id":1,"payee_id":2})).contains("missing field `amount`"));
        assert!(
            err(json!({"payer_id":1.5,"payee_id":2,"amount":1})).contains("field `payer_id` must be a whole number")
        );
        assert!(err(json!({"payer_id":1,"payee_id":2,"amount":"ten"}))
            .contains("field `amount` must be a whole number within 32 bits, got a string"));
        assert!(err(json!({"payer_id":1,"payee_id":2,"amount":3_000_000_000i64})).contains("field `amount`"));
        assert!(err(json!([1, 2])).contains("must be a JSON object, got an array"));
        assert!(err(json!({"op":"withdraw"})).contains("unknown op \"withdraw\""));
        assert!(err(json!({"op":7})).contains("field `op` must be a string"));
    }
}
