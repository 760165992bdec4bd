//! `--out emf=FILE`: CloudWatch Embedded Metric Format, one log line per second. Written
//! to a file the CloudWatch agent tails (or to standard output in a Lambda or ECS task),
//! CloudWatch turns each line into metrics in the `LoadHarness` namespace with the
//! `Scenario` dimension, without a PutMetricData call per second.

use serde_json::{json, Map, Value};
use workers::ErrorClass;

use super::Second;

/// The CloudWatch namespace the metrics go to.
pub const NAMESPACE: &str = "LoadHarness";

/// The line for one second: the second's counts (Count) and latency quantiles
/// (Milliseconds), with the run id as a property (searchable, not a dimension).
pub fn line(s: &Second<'_>) -> Value {
    let st = &s.interval.stats;
    let mut metrics: Vec<(&str, f64, &str)> = vec![
        ("Calls", st.calls as f64, "Count"),
        ("Successes", st.successes as f64, "Count"),
        ("Errors", st.error_count() as f64, "Count"),
        ("Throttles", st.errors.get(&ErrorClass::Throttle).copied().unwrap_or(0) as f64, "Count"),
        ("OccRetries", st.total_retries as f64, "Count"),
        ("InFlight", s.interval.in_flight as f64, "Count"),
    ];
    if st.latency_us.count() > 0 {
        for (name, q) in [("LatencyP50", 0.5), ("LatencyP90", 0.9), ("LatencyP99", 0.99)] {
            metrics.push((name, st.latency_us.quantile(q) as f64 / 1_000.0, "Milliseconds"));
        }
    }
    let timestamp_ms = now_ms();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Scenario"]],
                "Metrics": metrics.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
            }],
        }),
    );
    line.insert("Scenario".into(), s.scenario.into());
    line.insert("RunId".into(), s.run_id.into());
    line.insert("Second".into(), s.interval.index.into());
    for (name, value, _) in metrics {
        line.insert(name.into(), value.into());
    }
    Value::Object(line)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
