//! A fleet of worker daemons on EC2 Auto Scaling, from `deploy/fleet.json`:
//! `harness fleet up/status/down` drive its CloudFormation stack (`stack`), and
//! `harness run --fleet STACK` finds the workers: the stack's Auto Scaling group, its
//! InService instances, their private addresses, waiting (bounded) until as many are in
//! service as the group wants.

pub mod ec2;
#[cfg(test)]
pub mod recorded;
pub mod stack;

use std::time::Duration;

use anyhow::Context;

/// The AWS clients a fleet needs.
#[derive(Clone)]
pub struct Clients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// DescribeInstances, called directly (not worth aws-sdk-ec2's build).
    pub ec2: ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Clients {
        Clients {
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            autoscaling: aws_sdk_autoscaling::Client::new(sdk),
            ec2: ec2::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
        }
    }
}

/// What the stack says about its workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOutputs {
    pub group: String,
    pub port: u16,
    pub secret_parameter: String,
}

/// The fleet as found: the addresses of the workers in service, and the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub desired: usize,
    /// `ip:port` of the InService, healthy instances, sorted.
    pub addresses: Vec<String>,
    /// Instances not in service yet (Pending, ...) and on their way out (Terminating, ...).
    pub pending: usize,
    pub leaving: usize,
}

fn describe(e: &dyn std::error::Error) -> String {
    workers::error_chain(e)
}

/// A stack CloudFormation does not know (any more).
#[derive(Debug, thiserror::Error)]
#[error("fleet {0}: no such stack")]
pub struct NoSuchStack(pub String);

/// The stack as CloudFormation describes it; `NoSuchStack` (as the error's root) when
/// it does not exist.
pub async fn describe_stack(c: &Clients, stack: &str) -> anyhow::Result<aws_sdk_cloudformation::types::Stack> {
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    let out = c.cloudformation.describe_stacks().stack_name(stack).send().await.map_err(|e| {
        // CloudFormation says so only as a ValidationError "Stack with id X does not exist".
        let gone = e.code() == Some("ValidationError") && e.message().is_some_and(|m| m.contains("does not exist"));
        match gone {
            true => anyhow::Error::new(NoSuchStack(stack.to_string())),
            false => anyhow::anyhow!("fleet {stack}: DescribeStacks: {}", describe(&e)),
        }
    })?;
    out.stacks().first().cloned().ok_or_else(|| anyhow::Error::new(NoSuchStack(stack.to_string())))
}

/// The stack's outputs.
pub async fn outputs(c: &Clients, stack: &str) -> anyhow::Result<StackOutputs> {
    let s = describe_stack(c, stack).await?;
    let get = |key: &str| {
        s.outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "fleet {stack}: the stack has no output {key} (status {:?}; made from deploy/fleet.json?)",
                    s.stack_status()
                )
            })
    };
    Ok(StackOutputs {
        group: get("AutoScalingGroupName")?,
        port: get("WorkerPort")?.parse().context("the WorkerPort output is not a port")?,
        secret_parameter: get("SecretParameterName")?,
    })
}

/// The group's instances, once.
pub async fn find(c: &Clients, outputs: &StackOutputs) -> anyhow::Result<Found> {
    let groups = c
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&outputs.group)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeAutoScalingGroups {}: {}", outputs.group, describe(&e)))?;
    let group =
        groups.auto_scaling_groups().first().with_context(|| format!("no Auto Scaling group {}", outputs.group))?;
    let desired = group.desired_capacity().unwrap_or(0).max(0) as usize;
    let (mut ready, mut pending, mut leaving) = (Vec::new(), 0, 0);
    for i in group.instances() {
        let state = i.lifecycle_state().map(|s| s.as_str().to_string()).unwrap_or_default();
        let healthy = i.health_status() == Some("Healthy");
        match state.as_str() {
            "InService" if healthy => ready.extend(i.instance_id().map(str::to_string)),
            s if s.starts_with("Terminat") || s.starts_with("Detach") || s.starts_with("Standby") => leaving += 1,
            _ => pending += 1,
        }
    }
    let mut addresses = Vec::new();
    if !ready.is_empty() {
        let instances = c
            .ec2
            .describe_instances(&ready)
            .await
            .map_err(|e| anyhow::anyhow!("DescribeInstances: {}", describe(&e)))?;
        for instance in &instances {
            match &instance.private_ip {
                Some(ip) => addresses.push(format!("{ip}:{}", outputs.port)),
                None => pending += 1,
            }
        }
    }
    addresses.sort();
    Ok(Found { desired, addresses, pending, leaving })
}

/// Poll until as many workers are in service as the group wants (and at least one), for
/// at most `patience`; say what is missing otherwise.
pub async fn wait_for(c: &Clients, stack: &str, patience: Duration, every: Duration) -> anyhow::Result<Vec<String>> {
    let outputs = outputs(c, stack).await?;
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let found = find(c, &outputs).await?;
        if found.desired > 0 && found.addresses.len() >= found.desired {
            return Ok(found.addresses);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "fleet {stack}: {} of {} workers in service after {} s ({} pending, {} leaving); `harness fleet status --stack {stack}` shows them",
                found.addresses.len(),
                found.desired,
                patience.as_secs(),
                found.pending,
                found.leaving
            );
        }
        tracing::info!(stack, ready = found.addresses.len(), desired = found.desired, "waiting for the fleet");
        tokio::time::sleep(every).await;
    }
}

/// The fleet's shared secret, from its SSM SecureString.
pub async fn secret(c: &Clients, outputs: &StackOutputs) -> anyhow::Result<Vec<u8>> {
    let out =
        c.ssm.get_parameter().name(&outputs.secret_parameter).with_decryption(true).send().await.map_err(|e| {
            anyhow::anyhow!("reading the fleet's secret {}: {}", outputs.secret_parameter, describe(&e))
        })?;
    let value = out.parameter().and_then(|p| p.value()).context("the secret parameter has no value")?;
    Ok(value.trim().as_bytes().to_vec())
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    use super::recorded::{group_xml, instances_xml, stack_xml};
    use super::*;

    fn replay(answers: Vec<(u16, String)>) -> StaticReplayClient {
        let events = answers
            .into_iter()
            .map(|(status, b)| {
                let request = http::Request::builder().uri("https://aws.invalid/").body(SdkBody::empty()).unwrap();
                let kind = if b.starts_with('{') { "application/x-amz-json-1.1" } else { "text/xml" };
                let response = http::Response::builder()
                    .status(status)
                    .header("content-type", kind)
                    .body(SdkBody::from(b))
                    .unwrap();
                ReplayEvent::new(request, response)
            })
            .collect();
        StaticReplayClient::new(events)
    }

    /// Clients whose calls get these answers (200), in order.
    fn clients(bodies: Vec<String>) -> Clients {
        clients_with(bodies.into_iter().map(|b| (200, b)).collect()).0
    }

    /// Clients whose calls get these answers, in order, and the recording of the calls.
    pub(crate) fn clients_with(answers: Vec<(u16, String)>) -> (Clients, StaticReplayClient) {
        let http = replay(answers);
        let recorded = http.clone();
        let sdk = aws_config::SdkConfig::builder()
            .http_client(http)
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test"),
            ))
            .build();
        (Clients::new(&sdk), recorded)
    }

    const NO_STACK: &str = r#"<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id hf does not exist</Message></Error><RequestId>r9</RequestId></ErrorResponse>"#;

    fn up_args() -> stack::Up {
        stack::Up {
            stack: "hf".into(),
            size: 3,
            vpc: "vpc-0abc".into(),
            subnets: vec!["subnet-1".into(), "subnet-2".into()],
            coordinator_security_group: "sg-0c0".into(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:reinvent-dat401".into(),
            harness_url: "https://example-bucket.s3.amazonaws.com/harness".into(),
            instance_type: None,
        }
    }

    #[tokio::test]
    async fn up_makes_the_secret_then_the_stack_and_waits_and_down_removes_both() {
        let created = r#"<CreateStackResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><CreateStackResult><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/hf/0a1b</StackId></CreateStackResult><ResponseMetadata><RequestId>r4</RequestId></ResponseMetadata></CreateStackResponse>"#;
        let (c, recorded) = clients_with(vec![
            (200, r#"{"Version":1,"Tier":"Standard"}"#.into()),
            (400, NO_STACK.into()),
            (200, created.into()),
            (200, stack_xml("CREATE_IN_PROGRESS", 7700)),
            (200, stack_xml("CREATE_COMPLETE", 7700)),
        ]);
        let s = stack::up(&c, &up_args(), Duration::from_secs(60), Duration::from_millis(1)).await.unwrap();
        assert_eq!(s.as_str(), "CREATE_COMPLETE");
        let bodies: Vec<String> = recorded
            .actual_requests()
            .map(|r| String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).into_owned())
            .collect();
        assert!(
            bodies[0].contains("\"Type\":\"SecureString\"") && bodies[0].contains("/harness/hf/worker-secret"),
            "{}",
            bodies[0]
        );
        assert!(bodies[2].contains("Action=CreateStack") && bodies[2].contains("CAPABILITY_IAM"), "{}", bodies[2]);
        assert!(
            bodies[2].contains("subnet-1%2Csubnet-2") && bodies[2].contains("function%3Areinvent-dat401"),
            "{}",
            bodies[2]
        );
        let deleted = r#"<DeleteStackResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><ResponseMetadata><RequestId>r5</RequestId></ResponseMetadata></DeleteStackResponse>"#;
        let (c, recorded) = clients_with(vec![
            (200, deleted.into()),
            (200, stack_xml("DELETE_IN_PROGRESS", 7700)),
            (400, NO_STACK.into()),
            (200, "{}".into()),
        ]);
        stack::down(&c, "hf", Duration::from_secs(60), Duration::from_millis(1)).await.unwrap();
        let last =
            recorded.actual_requests().last().map(|r| String::from_utf8_lossy(r.body().bytes().unwrap()).into_owned());
        assert!(last.unwrap().contains("/harness/hf/worker-secret"), "the secret goes with the stack");
    }

    #[tokio::test]
    async fn discovery_waits_for_instances_in_service_and_skips_the_others() {
        let c = clients(vec![
            stack_xml("CREATE_COMPLETE", 7700),
            // First look: one in service, one pending, one terminating.
            group_xml(
                3,
                &[("i-1", "InService", "Healthy"), ("i-2", "Pending", "Healthy"), ("i-3", "Terminating", "Unhealthy")],
            ),
            instances_xml(&[("i-1", "10.0.1.5")]),
            // Then: three in service (one unhealthy still pending), the old one leaving.
            group_xml(
                3,
                &[
                    ("i-1", "InService", "Healthy"),
                    ("i-2", "InService", "Healthy"),
                    ("i-4", "InService", "Healthy"),
                    ("i-3", "Terminating", "Unhealthy"),
                ],
            ),
            instances_xml(&[("i-1", "10.0.1.5"), ("i-2", "10.0.2.7"), ("i-4", "10.0.1.9")]),
        ]);
        let found = wait_for(&c, "hf", Duration::from_secs(60), Duration::from_millis(1)).await.unwrap();
        assert_eq!(found, ["10.0.1.5:7700", "10.0.1.9:7700", "10.0.2.7:7700"]);
    }

    #[tokio::test]
    async fn a_fleet_with_no_workers_in_service_fails_after_the_wait_saying_what_it_saw() {
        let c = clients(vec![
            stack_xml("CREATE_COMPLETE", 7700),
            group_xml(2, &[("i-1", "Pending", "Healthy"), ("i-3", "Terminating:Wait", "Unhealthy")]),
        ]);
        let e = wait_for(&c, "hf", Duration::ZERO, Duration::from_millis(1)).await.unwrap_err().to_string();
        assert_eq!(e, "fleet hf: 0 of 2 workers in service after 0 s (1 pending, 1 leaving); `harness fleet status --stack hf` shows them");
        // A group that wants none: never ready.
        let c = clients(vec![stack_xml("CREATE_COMPLETE", 7700), group_xml(0, &[])]);
        let e = wait_for(&c, "hf", Duration::ZERO, Duration::from_millis(1)).await.unwrap_err().to_string();
        assert!(e.contains("0 of 0 workers in service"), "{e}");
    }

    #[tokio::test]
    async fn a_stack_settles_or_says_how_it_ended() {
        let c = clients(vec![stack_xml("CREATE_IN_PROGRESS", 7700), stack_xml("CREATE_COMPLETE", 7700)]);
        let s = stack::settle(&c, "hf", Duration::from_secs(60), Duration::from_millis(1)).await.unwrap();
        assert_eq!(s.as_str(), "CREATE_COMPLETE");
        let c = clients(vec![stack_xml("ROLLBACK_COMPLETE", 7700)]);
        let e = stack::settle(&c, "hf", Duration::from_secs(60), Duration::from_millis(1)).await.unwrap_err();
        assert!(e.to_string().contains("ended ROLLBACK_COMPLETE"), "{e}");
        let c = clients(vec![stack_xml("UPDATE_IN_PROGRESS", 7700)]);
        let e = stack::settle(&c, "hf", Duration::ZERO, Duration::from_millis(1)).await.unwrap_err();
        assert!(e.to_string().contains("still UPDATE_IN_PROGRESS after 0 s"), "{e}");
    }
}
