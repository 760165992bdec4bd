//! `harness fleet up|status|down`: the EC2 Auto Scaling fleet's stack.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{FleetAction, FleetArgs, FleetStackArgs};
use crate::fleet::{self, stack, Clients};

/// How often CloudFormation and Auto Scaling are asked again while waiting.
const POLL: Duration = Duration::from_secs(10);

async fn clients(a: &FleetStackArgs) -> Clients {
    Clients::new(&workers::target::aws_sdk_config(a.region.clone(), a.profile.clone()).await)
}

pub async fn run(args: FleetArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        FleetAction::Up(u) => {
            let c = clients(&u.stack).await;
            let up = stack::Up {
                stack: u.stack.stack.clone(),
                size: u.size,
                vpc: u.vpc,
                subnets: u.subnets,
                coordinator_security_group: u.coordinator_sg,
                function_arn: u.function_arn,
                harness_url: u.harness_url,
                instance_type: u.instance_type,
            };
            let patience = Duration::from_secs(u.stack.wait_minutes * 60);
            let status = stack::up(&c, &up, patience, POLL).await?;
            println!("fleet {}: {}", up.stack, status.as_str());
            println!("run on it: harness run SCENARIO --fleet {}", up.stack);
        }
        FleetAction::Status(a) => {
            let c = clients(&a).await;
            let status = stack::status(&c, &a.stack).await?;
            println!("fleet {}: {}", a.stack, status.as_str());
            let outputs = fleet::outputs(&c, &a.stack).await?;
            let found = fleet::find(&c, &outputs).await?;
            println!(
                "workers: {} of {} in service, {} pending, {} leaving (group {})",
                found.addresses.len(),
                found.desired,
                found.pending,
                found.leaving,
                outputs.group
            );
            for address in &found.addresses {
                println!("  {address}");
            }
        }
        FleetAction::Down(a) => {
            let c = clients(&a).await;
            stack::down(&c, &a.stack, Duration::from_secs(a.wait_minutes * 60), POLL).await?;
            println!("fleet {}: deleted, with its secret", a.stack);
        }
    }
    Ok(ExitCode::SUCCESS)
}
