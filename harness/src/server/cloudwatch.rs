//! The server-side view from CloudWatch, for a run against AWS: Lambda's own counts
//! (namespace `AWS/Lambda`, dimension `FunctionName`: Invocations, Errors, Throttles,
//! ConcurrentExecutions, Duration p50/p99) and Aurora DSQL's (namespace
//! `AWS/AuroraDSQL`, dimension `ClusterId`: TotalTransactions, OccConflicts,
//! CommitLatency, TotalDPU), each over the run's window as one period. CloudWatch
//! publishes minutes late: a metric with no value yet, or fewer invocations than the
//! client saw answered, makes the view incomplete, and says so.

use std::time::SystemTime;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StatusCode};

use super::{DatabaseSide, LambdaSide, ServerView};

/// What the view is fetched for.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub function: String,
    /// The DSQL cluster's identifier (`target.cluster_id`); none: no database view.
    pub cluster: Option<String>,
    /// The run's window.
    pub from: SystemTime,
    pub to: SystemTime,
    /// Calls the client saw Lambda answer (neither throttled nor lost in transport).
    pub answered: u64,
}

/// One query: id, namespace, metric, dimension, statistic.
struct Query {
    id: &'static str,
    namespace: &'static str,
    metric: &'static str,
    dimension: &'static str,
    stat: &'static str,
}

const LAMBDA: &[Query] = &[
    Query { id: "invocations", namespace: "AWS/Lambda", metric: "Invocations", dimension: "FunctionName", stat: "Sum" },
    Query { id: "errors", namespace: "AWS/Lambda", metric: "Errors", dimension: "FunctionName", stat: "Sum" },
    Query { id: "throttles", namespace: "AWS/Lambda", metric: "Throttles", dimension: "FunctionName", stat: "Sum" },
    Query {
        id: "concurrency",
        namespace: "AWS/Lambda",
        metric: "ConcurrentExecutions",
        dimension: "FunctionName",
        stat: "Maximum",
    },
    Query { id: "duration_p50", namespace: "AWS/Lambda", metric: "Duration", dimension: "FunctionName", stat: "p50" },
    Query { id: "duration_p99", namespace: "AWS/Lambda", metric: "Duration", dimension: "FunctionName", stat: "p99" },
];

const DSQL: &[Query] = &[
    Query {
        id: "transactions",
        namespace: "AWS/AuroraDSQL",
        metric: "TotalTransactions",
        dimension: "ClusterId",
        stat: "Sum",
    },
    Query {
        id: "occ_conflicts",
        namespace: "AWS/AuroraDSQL",
        metric: "OccConflicts",
        dimension: "ClusterId",
        stat: "Sum",
    },
    Query {
        id: "commit_latency",
        namespace: "AWS/AuroraDSQL",
        metric: "CommitLatency",
        dimension: "ClusterId",
        stat: "Average",
    },
    Query { id: "dpus", namespace: "AWS/AuroraDSQL", metric: "TotalDPU", dimension: "ClusterId", stat: "Sum" },
];

/// The window as CloudWatch takes it: from the minute the run started, one period of
/// whole minutes covering its end.
pub fn period(from: SystemTime, to: SystemTime) -> (i64, i32) {
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let start = secs(from) / 60 * 60;
    let minutes = ((secs(to) - start).max(1) + 59) / 60;
    (start, (minutes * 60) as i32)
}

/// Fetch the view; `now` decides whether CloudWatch has had time to catch up.
pub async fn fetch(client: &aws_sdk_cloudwatch::Client, r: &Request) -> anyhow::Result<ServerView> {
    let (start, period_s) = period(r.from, r.to);
    let mut queries: Vec<MetricDataQuery> = LAMBDA.iter().map(|q| query(q, &r.function, period_s)).collect();
    if let Some(cluster) = &r.cluster {
        queries.extend(DSQL.iter().map(|q| query(q, cluster, period_s)));
    }
    let out = client
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(start + i64::from(period_s)))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CloudWatch GetMetricData: {}", one_line(&workers::error_chain(&e), 300)))?;
    let mut notes = Vec::new();
    let mut missing = Vec::new();
    let value = |id: &str, missing: &mut Vec<String>| -> Option<f64> {
        let result = out.metric_data_results().iter().find(|m| m.id() == Some(id));
        let v = result.and_then(|m| m.values().first().copied());
        let complete = result.is_some_and(|m| m.status_code() == Some(&StatusCode::Complete));
        if v.is_none() || !complete {
            missing.push(id.to_string());
        }
        v
    };
    let count = |v: Option<f64>| v.map(|v| v.round() as u64);
    let lambda = LambdaSide {
        invocations: count(value("invocations", &mut missing)),
        errors: count(value("errors", &mut missing)),
        throttles: count(value("throttles", &mut missing)),
        max_concurrency: count(value("concurrency", &mut missing)),
        duration_p50_ms: value("duration_p50", &mut missing),
        duration_p99_ms: value("duration_p99", &mut missing),
        cold_starts: None,
    };
    let database = r.cluster.as_ref().map(|_| DatabaseSide {
        committed: count(value("transactions", &mut missing)),
        occ_conflicts: count(value("occ_conflicts", &mut missing)),
        commit_latency_ms: value("commit_latency", &mut missing),
        dpus: value("dpus", &mut missing),
        rolled_back: None,
    });
    // Complete once every metric has arrived and Lambda counted every answered call;
    // a run without a cluster has no database view to wait for.
    let caught_up = lambda.invocations.is_none_or(|n| n >= r.answered);
    let complete = missing.is_empty() && caught_up;
    if !missing.is_empty() {
        notes.push(format!(
            "not yet available from CloudWatch: {} (metrics arrive minutes late; `harness report RUN_DIR --fetch-metrics` fetches them again)",
            missing.join(", ")
        ));
    }
    if let Some(n) = lambda.invocations.filter(|n| *n < r.answered) {
        notes.push(format!(
            "CloudWatch has counted {n} of the {} invocations the client saw answered: it has not caught up yet",
            r.answered
        ));
    }
    if r.cluster.is_none() {
        notes.push("no database view: set target.cluster_id to the DSQL cluster's identifier".into());
    }
    let rfc = |secs: i64| crate::clock::Timestamp::from_secs(secs.max(0) as u64);
    Ok(ServerView {
        source: "CloudWatch (AWS/Lambda by FunctionName, AWS/AuroraDSQL by ClusterId)".into(),
        from: rfc(start),
        to: rfc(start + i64::from(period_s)),
        complete,
        notes,
        lambda: Some(lambda),
        database,
    })
}

fn query(q: &Query, dimension_value: &str, period_s: i32) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(q.namespace)
        .metric_name(q.metric)
        .dimensions(Dimension::builder().name(q.dimension).value(dimension_value).build())
        .build();
    let stat = MetricStat::builder().metric(metric).period(period_s).stat(q.stat).build();
    MetricDataQuery::builder().id(q.id).metric_stat(stat).return_data(true).build()
}

/// `text` on one line (white space runs as one space), at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::config::{BehaviorVersion, Region};
    use aws_smithy_cbor::Encoder;
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    /// A GetMetricData answer as CloudWatch sends it (RPC v2 CBOR): one result per id,
    /// with its value, or none yet (`PartialData`, no values).
    fn answer(results: &[(&str, Option<f64>)]) -> http::Response<SdkBody> {
        let mut e = Encoder::new(Vec::new());
        e.map(2).str("MetricDataResults").array(results.len());
        for (id, v) in results {
            e.map(5).str("Id").str(id).str("Label").str(id).str("Timestamps");
            match v {
                Some(_) => e.array(1).timestamp(&DateTime::from_secs(1_796_000_040)),
                None => e.array(0),
            };
            e.str("Values");
            match v {
                Some(v) => e.array(1).double(*v),
                None => e.array(0),
            };
            e.str("StatusCode").str(if v.is_some() { "Complete" } else { "PartialData" });
        }
        e.str("Messages").array(0);
        http::Response::builder()
            .status(200)
            .header("content-type", "application/cbor")
            .header("smithy-protocol", "rpc-v2-cbor")
            .body(SdkBody::from(e.into_writer()))
            .unwrap()
    }

    fn client(response: http::Response<SdkBody>) -> (aws_sdk_cloudwatch::Client, StaticReplayClient) {
        let request = http::Request::builder()
            .uri("https://monitoring.us-east-1.amazonaws.com/service/GraniteServiceVersion20100801/operation/GetMetricData")
            .body(SdkBody::empty())
            .unwrap();
        let http = StaticReplayClient::new(vec![ReplayEvent::new(request, response)]);
        let config = aws_sdk_cloudwatch::Config::builder()
            .http_client(http.clone())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .build();
        (aws_sdk_cloudwatch::Client::from_conf(config), http)
    }

    fn request(cluster: Option<&str>) -> Request {
        let at = |s: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
        Request {
            function: "reinvent-dat401".into(),
            cluster: cluster.map(str::to_string),
            from: at(1_796_000_010),
            to: at(1_796_000_130),
            answered: 10_000,
        }
    }

    #[test]
    fn the_window_is_whole_minutes_from_the_start() {
        let r = request(None);
        assert_eq!(period(r.from, r.to), (1_795_999_980, 180), "10 s into a minute, 2 minutes long: 3 minutes");
        let (start, p) = period(r.from, r.from);
        assert_eq!((start % 60, p), (0, 60));
    }

    #[tokio::test]
    async fn a_complete_view_with_the_database() {
        let results = [
            ("invocations", Some(10_000.0)),
            ("errors", Some(12.0)),
            ("throttles", Some(4_210.0)),
            ("concurrency", Some(998.0)),
            ("duration_p50", Some(41.5)),
            ("duration_p99", Some(180.25)),
            ("transactions", Some(10_688.0)),
            ("occ_conflicts", Some(688.0)),
            ("commit_latency", Some(6.5)),
            ("dpus", Some(25_000.0)),
        ];
        let (client, http) = client(answer(&results));
        let v = fetch(&client, &request(Some("abcdefghijklmnopqrst1234"))).await.unwrap();
        assert!(v.complete, "{:?}", v.notes);
        let l = v.lambda.unwrap();
        assert_eq!(
            (l.invocations, l.errors, l.throttles, l.max_concurrency),
            (Some(10_000), Some(12), Some(4_210), Some(998))
        );
        assert_eq!((l.duration_p50_ms, l.duration_p99_ms), (Some(41.5), Some(180.25)));
        let d = v.database.unwrap();
        assert_eq!(
            (d.committed, d.occ_conflicts, d.commit_latency_ms, d.dpus),
            (Some(10_688), Some(688), Some(6.5), Some(25_000.0))
        );
        // What was asked: every metric of both namespaces over one period of whole minutes.
        let sent = http.actual_requests().next().unwrap().body().bytes().unwrap().to_vec();
        let sent = String::from_utf8_lossy(&sent);
        for needle in ["AWS/Lambda", "AWS/AuroraDSQL", "ClusterId", "abcdefghijklmnopqrst1234", "TotalDPU", "p99"] {
            assert!(sent.contains(needle), "{needle} in the request");
        }
    }

    #[tokio::test]
    async fn not_yet_available_says_so() {
        // Right after the run: Lambda's invocations only partly counted, DSQL's nothing yet.
        let results = [
            ("invocations", Some(6_000.0)),
            ("errors", Some(0.0)),
            ("throttles", Some(0.0)),
            ("concurrency", Some(500.0)),
            ("duration_p50", Some(40.0)),
            ("duration_p99", Some(90.0)),
            ("transactions", None),
            ("occ_conflicts", None),
            ("commit_latency", None),
            ("dpus", None),
        ];
        let (client, _http) = client(answer(&results));
        let v = fetch(&client, &request(Some("c1"))).await.unwrap();
        assert!(!v.complete);
        assert!(v.notes[0]
            .starts_with("not yet available from CloudWatch: transactions, occ_conflicts, commit_latency, dpus"));
        assert!(v.notes[0].contains("--fetch-metrics"));
        assert!(v.notes[1].contains("counted 6000 of the 10000 invocations"), "{:?}", v.notes);
        assert_eq!(v.database.unwrap().dpus, None);
    }

    #[tokio::test]
    async fn without_a_cluster_only_lambda() {
        let results: Vec<_> = LAMBDA.iter().map(|q| (q.id, Some(10_000.0))).collect();
        let (client, _http) = client(answer(&results));
        let v = fetch(&client, &request(None)).await.unwrap();
        assert!(v.complete && v.database.is_none());
        assert!(v.notes[0].contains("target.cluster_id"));
    }
}
