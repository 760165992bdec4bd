//! `[target]`: where the function runs (the local stack, in-process, an Invoke API
//! endpoint, AWS Lambda) and which client calls it.

#[allow(unused_imports)]
use super::raw::*;
use super::*;

pub(super) fn target(src: &Source, raw: &RawScenario, o: &Overrides) -> Result<TargetSpec, ScenarioError> {
    let t = &raw.target;
    let mut kind = src.f(t.kind.clone());
    flag(&mut kind, o.target.clone(), "--target");
    let mut function = src.f(t.function.clone());
    flag(&mut function, o.function.clone(), "--function");
    let database_url = o.database_url.clone().or_else(|| t.database_url.clone());
    if let Some(f) = &function {
        function_name_ok(&f.v).map_err(|m| src.err(&f.at, format!("target.function: {m}")))?;
    }
    let function_name =
        function.clone().map_or_else(|| transfer::local::endpoint::DEFAULT_FUNCTION.to_string(), |f| f.v);
    match kind.as_ref().map(|k| k.v.as_str()) {
        None | Some("local") => Ok(TargetSpec::Local { function: function_name, database_url }),
        Some("in-process") => Ok(TargetSpec::InProcess { database_url }),
        Some("aws") => {
            if function.is_none() {
                let at = kind.map_or_else(|| src.path.to_string(), |k| k.at);
                return Err(src.err(at, "target.kind = \"aws\" needs target.function (a function name or ARN)"));
            }
            let mut endpoint_url = src.f(t.endpoint_url.clone());
            flag(&mut endpoint_url, o.endpoint_url.clone(), "--endpoint-url");
            if let Some(url) = &endpoint_url {
                http_url_ok(url.v.as_str()).map_err(|m| src.err(&url.at, format!("target.endpoint_url: {m}")))?;
            }
            let access = AwsAccess {
                region: t.region.clone(),
                profile: t.profile.clone(),
                endpoint_url: endpoint_url.map(|u| u.v),
            };
            let cluster_endpoint = match src.f(t.cluster_endpoint.clone()) {
                Some(e) => match transfer::db::dsql::host_port(&e.v) {
                    Ok(_) if !e.v.contains(char::is_whitespace) => Some(e.v),
                    Ok(_) => return Err(src.err(e.at, format!("target.cluster_endpoint {:?} has white space", e.v))),
                    Err(m) => return Err(src.err(e.at, format!("target.cluster_endpoint: {m}"))),
                },
                None => None,
            };
            Ok(TargetSpec::Aws { function: function_name, access, cluster_id: t.cluster_id.clone(), cluster_endpoint })
        }
        Some("endpoint") => {
            let mut url = src.f(t.url.clone().or_else(|| t.endpoint_url.clone()));
            flag(&mut url, o.endpoint_url.clone(), "--endpoint-url");
            let Some(url) = url else {
                let at = kind.map_or_else(|| src.path.to_string(), |k| k.at);
                return Err(src.err(at, "target.kind = \"endpoint\" needs target.url, e.g. \"http://127.0.0.1:9000\""));
            };
            http_url_ok(&url.v).map_err(|m| src.err(&url.at, format!("target.url: {m}")))?;
            Ok(TargetSpec::Endpoint { url: url.v, function: function_name })
        }
        Some(other) => {
            let at = kind.as_ref().map(|k| k.at.clone()).unwrap_or_default();
            Err(src.err(
                at,
                format!("target.kind {other:?} is not one of \"local\", \"aws\", \"in-process\", \"endpoint\""),
            ))
        }
    }
}

/// An Invoke API endpoint URL: `http://` or `https://`, no white space.
fn http_url_ok(url: &str) -> Result<(), String> {
    if (url.starts_with("http://") || url.starts_with("https://")) && !url.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!("{url:?} is not an http:// or https:// URL"))
    }
}

/// A Lambda function name, partial ARN or ARN (with an optional qualifier), as the
/// Invoke API accepts them: 1 to 170 characters of letters, digits, `-_:.$`.
pub(super) fn function_name_ok(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the function name is empty; give a name or ARN, e.g. \"reinvent-dat401\"".into());
    }
    if name.len() > 170 {
        return Err(format!("{} characters; a function name or ARN has at most 170", name.len()));
    }
    match name.chars().find(|c| !(c.is_ascii_alphanumeric() || "-_:.$".contains(*c))) {
        Some(c) => Err(format!("{name:?} has {c:?}; a function name or ARN has only letters, digits and -_:.$")),
        None => Ok(()),
    }
}

/// `target.client` (or `--client`): "lean" (the default) or "sdk".
pub(super) fn invoke_client(src: &Source, raw: &RawScenario, o: &Overrides) -> Result<InvokeClient, ScenarioError> {
    let mut client = src.f(raw.target.client.clone());
    flag(&mut client, o.client.clone(), "--client");
    match client.as_ref().map(|c| c.v.as_str()) {
        None => Ok(InvokeClient::default()),
        Some("sdk") => Ok(InvokeClient::Sdk),
        Some("lean") => Ok(InvokeClient::Lean),
        Some(other) => {
            Err(src
                .err(&client.as_ref().unwrap().at, format!("target.client {other:?} is not one of \"sdk\", \"lean\"")))
        }
    }
}
