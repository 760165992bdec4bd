//! The fleet's CloudFormation stack: create or update it from `deploy/fleet.json` (with
//! the shared secret made first as an SSM SecureString), show it, delete it (and the
//! secret). Every wait is bounded.

use std::time::Duration;

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};

use super::{describe, Clients};

/// The template, as shipped.
pub const TEMPLATE: &str = include_str!("../../../deploy/fleet.json");

/// What `harness fleet up` creates.
#[derive(Debug, Clone)]
pub struct Up {
    pub stack: String,
    pub size: u32,
    pub vpc: String,
    pub subnets: Vec<String>,
    pub coordinator_security_group: String,
    pub function_arn: String,
    pub harness_url: String,
    pub instance_type: Option<String>,
}

/// The SSM parameter holding a stack's secret.
pub fn secret_parameter(stack: &str) -> String {
    format!("/harness/{stack}/worker-secret")
}

/// Create the secret (unless it exists), then create or update the stack and wait for it.
pub async fn up(c: &Clients, u: &Up, patience: Duration, every: Duration) -> anyhow::Result<StackStatus> {
    let name = secret_parameter(&u.stack);
    let secret = workers::remote::protocol::nonce() + &workers::remote::protocol::nonce();
    let put = c
        .ssm
        .put_parameter()
        .name(&name)
        .value(secret)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .description(format!("the shared secret of harness fleet {}", u.stack))
        .overwrite(false)
        .send()
        .await;
    if let Err(e) = put {
        let exists = e.as_service_error().is_some_and(|s| s.is_parameter_already_exists());
        anyhow::ensure!(exists, "creating the fleet's secret {name}: {}", describe(&e));
    }
    let p = |k: &str, v: &str| Parameter::builder().parameter_key(k).parameter_value(v).build();
    let mut parameters = vec![
        p("FleetSize", &u.size.to_string()),
        p("VpcId", &u.vpc),
        p("SubnetIds", &u.subnets.join(",")),
        p("CoordinatorSecurityGroupId", &u.coordinator_security_group),
        p("FunctionArn", &u.function_arn),
        p("SecretParameterName", &name),
        p("HarnessUrl", &u.harness_url),
    ];
    if let Some(t) = &u.instance_type {
        parameters.push(p("InstanceType", t));
    }
    let exists = c.cloudformation.describe_stacks().stack_name(&u.stack).send().await.is_ok();
    if exists {
        let update = c
            .cloudformation
            .update_stack()
            .stack_name(&u.stack)
            .template_body(TEMPLATE)
            .set_parameters(Some(parameters))
            .capabilities(Capability::CapabilityIam)
            .send()
            .await;
        if let Err(e) = update {
            let unchanged = describe(&e).contains("No updates are to be performed");
            anyhow::ensure!(unchanged, "updating fleet {}: {}", u.stack, describe(&e));
            return status(c, &u.stack).await;
        }
    } else {
        c.cloudformation
            .create_stack()
            .stack_name(&u.stack)
            .template_body(TEMPLATE)
            .set_parameters(Some(parameters))
            .capabilities(Capability::CapabilityIam)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("creating fleet {}: {}", u.stack, describe(&e)))?;
    }
    settle(c, &u.stack, patience, every).await
}

/// The stack's status.
pub async fn status(c: &Clients, stack: &str) -> anyhow::Result<StackStatus> {
    let s = super::describe_stack(c, stack).await?;
    s.stack_status().cloned().ok_or_else(|| anyhow::anyhow!("fleet {stack}: no status"))
}

/// Wait, bounded, until the stack is no longer in progress; a failed or rolled-back
/// stack is an error.
pub async fn settle(c: &Clients, stack: &str, patience: Duration, every: Duration) -> anyhow::Result<StackStatus> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let s = status(c, stack).await?;
        let name = s.as_str();
        if !name.ends_with("_IN_PROGRESS") {
            anyhow::ensure!(
                name.ends_with("_COMPLETE") && !name.contains("ROLLBACK"),
                "fleet {stack} ended {name}: see its events in the CloudFormation console"
            );
            return Ok(s);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "fleet {stack} is still {name} after {} s",
            patience.as_secs()
        );
        tracing::info!(stack, status = name, "waiting for the stack");
        tokio::time::sleep(every).await;
    }
}

/// Delete the stack and wait until it is gone, then its secret.
pub async fn down(c: &Clients, stack: &str, patience: Duration, every: Duration) -> anyhow::Result<()> {
    c.cloudformation
        .delete_stack()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("deleting fleet {stack}: {}", describe(&e)))?;
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match status(c, stack).await {
            Err(e) if e.downcast_ref::<super::NoSuchStack>().is_some() => break,
            Err(e) => return Err(e),
            Ok(StackStatus::DeleteComplete) => break,
            Ok(StackStatus::DeleteFailed) => anyhow::bail!("fleet {stack}: DELETE_FAILED"),
            Ok(s) => {
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "fleet {stack} is still {} after {} s",
                    s.as_str(),
                    patience.as_secs()
                );
                tokio::time::sleep(every).await;
            }
        }
    }
    let name = secret_parameter(stack);
    if let Err(e) = c.ssm.delete_parameter().name(&name).send().await {
        let gone = e.as_service_error().is_some_and(|s| s.is_parameter_not_found());
        anyhow::ensure!(gone, "deleting the fleet's secret {name}: {}", describe(&e));
    }
    Ok(())
}
