//! `harness doctor`: checks, in order, what a run against AWS needs, and says what to fix:
//! 1. AWS credentials and region;
//! 2. the function exists and may be invoked (a DryRun invoke);
//! 3. the function reaches its database (its connectivity check), telling apart a missing
//!    IAM permission (the workshop's chapter 1 AccessDenied), a missing role mapping, and
//!    a network or TLS problem;
//! 4. the concurrency quotas, and whether a scenario's calls in flight fit them;
//! 5. the schema and the number of accounts.
//!
//! A check whose prerequisite failed is skipped. The diagnosis of an error is a pure
//! function of what the SDK or the function returned, tested with recorded responses.

pub mod diagnose;
pub mod quotas;

use aws_config::SdkConfig;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

pub use diagnose::{connection_problem, invoke_problem, Problem};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok(String),
    Fail(Problem),
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
}

impl Finding {
    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Ok(_))
    }

    /// `{"check", "status": "ok"|"fail"|"skipped", "detail", "fix"}` for `--format json`.
    pub fn to_json(&self) -> serde_json::Value {
        let (status, detail, fix) = match &self.status {
            Status::Ok(d) => ("ok", d.as_str(), None),
            Status::Skipped(why) => ("skipped", why.as_str(), None),
            Status::Fail(p) => ("fail", p.what.as_str(), Some(p.fix.as_str())),
        };
        serde_json::json!({ "check": self.check, "status": status, "detail": detail, "fix": fix })
    }

    /// `[ ok ] check: detail`, or `[FAIL] check: detail` and `       fix: ...`.
    pub fn render(&self) -> String {
        match &self.status {
            Status::Ok(detail) => format!("[ ok ] {}: {detail}\n", self.check),
            Status::Skipped(why) => format!("[skip] {}: {why}\n", self.check),
            Status::Fail(p) => format!("[FAIL] {}: {}\n       fix: {}\n", self.check, p.what, p.fix),
        }
    }
}

pub const CREDENTIALS: &str = "AWS credentials and region";
pub const INVOKE: &str = "function exists and may be invoked";
pub const DATABASE: &str = "function reaches the database";
pub const CALL: &str = "a call with the scenario's payload";
pub const QUERIES: &str = "the scenario's invariant queries";
pub const SCHEMA: &str = "schema and accounts";

/// Check 1: a region, and credentials that resolve.
pub async fn credentials(sdk: &SdkConfig) -> Finding {
    use aws_credential_types::provider::ProvideCredentials;
    let status = match (sdk.region(), sdk.credentials_provider()) {
        (None, _) => Status::Fail(Problem::new(
            "no AWS region configured",
            "pass --region, set AWS_REGION, or set `region` in ~/.aws/config for your profile",
        )),
        (_, None) => Status::Fail(Problem::new("no credentials provider", "run `aws configure` or set AWS_PROFILE")),
        (Some(region), Some(provider)) => match provider.provide_credentials().await {
            Ok(c) => {
                let key = c.access_key_id();
                let shown = format!("{}...", key.chars().take(4).collect::<String>());
                Status::Ok(format!("region {region}, credentials {shown}"))
            }
            Err(e) => Status::Fail(diagnose::credentials_problem(&e)),
        },
    };
    Finding { check: CREDENTIALS, status }
}

/// Check 2: a DryRun invoke (204 when the function exists and we may invoke it).
pub async fn invokable(client: &aws_sdk_lambda::Client, function: &str, region: &str) -> Finding {
    let result = client.invoke().function_name(function).invocation_type(InvocationType::DryRun).send().await;
    let status = match result {
        Ok(out) => Status::Ok(format!("{function} (DryRun answered {})", out.status_code())),
        Err(e) => Status::Fail(invoke_problem(function, region, &e)),
    };
    Finding { check: INVOKE, status }
}

/// Check 3: the function's connectivity check (`{"op":"connectivity"}`).
pub async fn reaches_database(client: &aws_sdk_lambda::Client, function: &str, region: &str) -> Finding {
    let payload = br#"{"op":"connectivity","name":"harness doctor"}"#;
    let result = client.invoke().function_name(function).payload(Blob::new(&payload[..])).send().await;
    let status = match result {
        Err(e) => Status::Fail(invoke_problem(function, region, &e)),
        Ok(out) => {
            let (body, json) = answer_of(&out);
            match out.function_error() {
                None => Status::Ok(json["greeting"].as_str().unwrap_or(&body).to_string()),
                Some(_) => {
                    let error_type = json["errorType"].as_str().unwrap_or("Unhandled");
                    let message = json["errorMessage"].as_str().unwrap_or(&body);
                    Status::Fail(connection_problem(error_type, message))
                }
            }
        }
    };
    Finding { check: DATABASE, status }
}

/// An Invoke answer's body, as text and as JSON (the text itself when it is not JSON).
fn answer_of(out: &aws_sdk_lambda::operation::invoke::InvokeOutput) -> (String, serde_json::Value) {
    let body = out.payload().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned()).unwrap_or_default();
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body.clone()));
    (body, json)
}

/// Check 3 for a function of the user's: one call with the scenario's first payload,
/// its answer read as the scenario's `[response]` says.
pub async fn scenario_call(
    client: &aws_sdk_lambda::Client,
    function: &str,
    region: &str,
    (payload, response): (&serde_json::Value, &workers::ResponseMap),
) -> Finding {
    let result = client.invoke().function_name(function).payload(Blob::new(payload.to_string())).send().await;
    let status = match result {
        Err(e) => Status::Fail(invoke_problem(function, region, &e)),
        Ok(out) => {
            let (_, json) = answer_of(&out);
            judge_answer(out.function_error(), &json, response)
        }
    };
    Finding { check: CALL, status }
}

/// What one answer to the scenario's payload says about the run to come.
pub fn judge_answer(function_error: Option<&str>, json: &serde_json::Value, response: &workers::ResponseMap) -> Status {
    if function_error.is_some() {
        let error_type = json["errorType"].as_str().unwrap_or("Unhandled");
        let message = json["errorMessage"].as_str().unwrap_or_default();
        return Status::Fail(Problem::new(
            format!("the function failed on the scenario's payload: {error_type}: {message}"),
            "check the payload ([workload] template) against what the handler expects, and the function's logs",
        ));
    }
    let read = response.classify(&workers::Outcome::Response(json.clone()));
    let retries = match read.retries {
        Some(n) => format!("{n} OCC retries at {}", response.retries),
        None => format!(
            "no OCC retries at {} (set [response] retries to where the answer carries them, or they are not counted)",
            response.retries
        ),
    };
    match read.error {
        Some((_, refusal)) => Status::Ok(format!("answered a business refusal ({refusal}); {retries}")),
        None => Status::Ok(format!("answered {json}; {retries}")),
    }
}

/// Check 4: the tables, the workshop's indexes, and the number of accounts.
pub async fn schema(db: &tokio_postgres::Client, expected_accounts: Option<i64>) -> Finding {
    let status = match read_schema(db).await {
        Err(e) => Status::Fail(Problem::new(
            format!("cannot read the schema: {}", transfer::error::describe_db_error(&e)),
            "check the database address and that this identity may connect (see check 3)",
        )),
        Ok((false, _, _)) => Status::Fail(Problem::new(
            "the accounts and transactions tables are missing",
            "run `harness setup` against this database (it creates the schema and loads the accounts)",
        )),
        Ok((true, _, missing)) if !missing.is_empty() => Status::Fail(Problem::new(
            format!("missing indexes: {}", missing.join(", ")),
            "run `harness setup` again: it creates them (CREATE INDEX ASYNC on DSQL) and waits for the build",
        )),
        Ok((true, accounts, _)) => match expected_accounts {
            Some(n) if n != accounts => Status::Fail(Problem::new(
                format!("{accounts} accounts, expected {n}"),
                format!("run `harness setup --accounts {n}` (add --reset to restore balances)"),
            )),
            _ => Status::Ok(format!("tables and indexes present, {accounts} accounts")),
        },
    };
    Finding { check: SCHEMA, status }
}

async fn read_schema(db: &tokio_postgres::Client) -> Result<(bool, i64, Vec<String>), tokio_postgres::Error> {
    let tables: i64 = db
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('accounts', 'transactions')",
            &[],
        )
        .await?
        .get(0);
    if tables < 2 {
        return Ok((false, 0, Vec::new()));
    }
    let present: Vec<String> = db
        .query("SELECT indexname::text FROM pg_indexes WHERE tablename = 'transactions'", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let missing = ["idx_transactions_payer", "idx_transactions_payee"]
        .iter()
        .filter(|i| !present.iter().any(|p| p == *i))
        .map(|i| i.to_string())
        .collect();
    let accounts: i64 = db.query_one("SELECT count(*) FROM accounts", &[]).await?.get(0);
    Ok((true, accounts, missing))
}

#[cfg(test)]
mod tests;
