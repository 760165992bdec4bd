//! `harness invoke`: one call, printed like `aws lambda invoke`.

use std::process::ExitCode;

use anyhow::Context;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::primitives::Blob;
use workers::target::{emulated_function_error, AwsAccess};
use workers::LambdaTarget;

use crate::cli::InvokeArgs;

/// One call, printed like `aws lambda invoke`: the response metadata, then the payload.
pub async fn run(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    serde_json::from_str::<serde_json::Value>(&args.payload)
        .with_context(|| format!("--payload is not JSON: {}", args.payload))?;
    let target = match &args.endpoint_url {
        Some(url) => LambdaTarget::endpoint(url, &args.function, 1),
        None => {
            let access = AwsAccess { region: args.region.clone(), profile: args.profile.clone(), endpoint_url: None };
            LambdaTarget::aws(&args.function, &access, 1).await
        }
    };
    let sent =
        target.client().invoke().function_name(&args.function).payload(Blob::new(args.payload.as_bytes())).send().await;
    let out = match sent {
        // An emulator's function error (e.g. `cargo lambda watch`: 500 with the
        // function's errorType and errorMessage) is printed as Lambda's would be.
        Err(SdkError::ServiceError(e)) if emulated_function_error(e.raw()).is_some() => {
            let meta = serde_json::json!({ "StatusCode": e.raw().status().as_u16(), "FunctionError": "Unhandled" });
            println!("{}", serde_json::to_string_pretty(&meta)?);
            println!("{}", String::from_utf8_lossy(e.raw().body().bytes().unwrap_or_default()));
            return Ok(ExitCode::from(1));
        }
        other => other
            .map_err(|e| anyhow::anyhow!(workers::target::describe_sdk_error(&e)))
            .with_context(|| format!("invoking {}", args.function))?,
    };
    let mut meta = serde_json::json!({ "StatusCode": out.status_code() });
    if let Some(e) = out.function_error() {
        meta["FunctionError"] = e.into();
    }
    if let Some(v) = out.executed_version() {
        meta["ExecutedVersion"] = v.into();
    }
    println!("{}", serde_json::to_string_pretty(&meta)?);
    let payload = out.payload().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned()).unwrap_or_default();
    println!("{payload}");
    Ok(if out.function_error().is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
