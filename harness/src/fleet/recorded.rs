//! Recorded answers of CloudFormation, Auto Scaling and EC2 for a fleet stack `hf`, as
//! those services send them (XML): shared by the unit tests here and by
//! `harness/tests/fleet_aws.rs` (which includes this file).

/// CloudFormation's DescribeStacks answer for a fleet stack.
pub fn stack_xml(status: &str, port: u16) -> String {
    format!(
        r#"<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>hf</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/hf/0a1b</StackId><StackStatus>{status}</StackStatus><CreationTime>2026-11-30T10:00:00Z</CreationTime><Outputs><member><OutputKey>AutoScalingGroupName</OutputKey><OutputValue>hf-WorkerGroup-1</OutputValue></member><member><OutputKey>WorkerPort</OutputKey><OutputValue>{port}</OutputValue></member><member><OutputKey>SecretParameterName</OutputKey><OutputValue>/harness/hf/worker-secret</OutputValue></member></Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStacksResponse>"#
    )
}

/// Auto Scaling's answer: the group wanting `desired`, with these (id, state, health).
pub fn group_xml(desired: u32, instances: &[(&str, &str, &str)]) -> String {
    let members: String = instances
        .iter()
        .map(|(id, state, health)| {
            format!("<member><InstanceId>{id}</InstanceId><InstanceType>c7g.large</InstanceType><AvailabilityZone>us-east-1a</AvailabilityZone><LifecycleState>{state}</LifecycleState><HealthStatus>{health}</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>")
        })
        .collect();
    format!(
        r#"<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups><member><AutoScalingGroupName>hf-WorkerGroup-1</AutoScalingGroupName><AutoScalingGroupARN>arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1:autoScalingGroupName/hf-WorkerGroup-1</AutoScalingGroupARN><MinSize>0</MinSize><MaxSize>{desired}</MaxSize><DesiredCapacity>{desired}</DesiredCapacity><DefaultCooldown>300</DefaultCooldown><AvailabilityZones><member>us-east-1a</member></AvailabilityZones><HealthCheckType>EC2</HealthCheckType><CreatedTime>2026-11-30T10:00:00Z</CreatedTime><Instances>{members}</Instances></member></AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>"#
    )
}

/// EC2's DescribeInstances answer: these (id, private address).
pub fn instances_xml(instances: &[(&str, &str)]) -> String {
    instances_page_xml(instances, None)
}

/// One page of EC2's DescribeInstances answer: these (id, private address; an empty one
/// is left out, as for an instance without a network interface yet), and the token of
/// the next page. The address is also in the network interface, as EC2 sends it.
pub fn instances_page_xml(instances: &[(&str, &str)], next_token: Option<&str>) -> String {
    let items: String = instances
        .iter()
        .map(|(id, ip)| {
            let address = if ip.is_empty() { String::new() } else { format!("<privateIpAddress>{ip}</privateIpAddress>") };
            let interface = if ip.is_empty() {
                String::new()
            } else {
                format!("<networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId><privateIpAddress>{ip}</privateIpAddress><privateIpAddressesSet><item><privateIpAddress>{ip}</privateIpAddress><primary>true</primary></item></privateIpAddressesSet></item></networkInterfaceSet>")
            };
            format!("<item><instanceId>{id}</instanceId><imageId>ami-0abc</imageId><instanceState><code>16</code><name>running</name></instanceState><instanceType>c7g.large</instanceType>{address}{interface}</item>")
        })
        .collect();
    let next = next_token.map(|t| format!("<nextToken>{t}</nextToken>")).unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r3</requestId><reservationSet><item><reservationId>r-1</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>{items}</instancesSet></item></reservationSet>{next}</DescribeInstancesResponse>"#
    )
}
