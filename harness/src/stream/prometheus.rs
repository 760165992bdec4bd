//! `--metrics-listen ADDR`: a Prometheus endpoint (`GET /metrics`, OpenMetrics text,
//! encoded by the `prometheus-client` crate) with the run's figures, updated once per
//! recorded second. Counters are cumulative over the run; gauges describe the last
//! second. Metric names and labels are documented in docs/running.md ("Live metrics").
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `harness_calls_total` | counter | |
//! | `harness_successes_total` | counter | |
//! | `harness_errors_total` | counter | `class` (business, function, throttle, service, transport, timeout, abandoned) |
//! | `harness_occ_retries_total` | counter | |
//! | `harness_late_starts_total` | counter | |
//! | `harness_in_flight` | gauge | |
//! | `harness_elapsed_seconds` | gauge | (seconds recorded so far) |
//! | `harness_latency_seconds` | gauge | `view` (all, success), `quantile` (0.5, 0.9, 0.99, 1) |
//! | `harness_run_info` | gauge (1) | `scenario`, `run_id` |

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use workers::ErrorClass;

use super::Second;

type Labels = Vec<(String, String)>;

/// The exposition's content type.
pub const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

struct Metrics {
    registry: Registry,
    calls: Counter,
    successes: Counter,
    errors: Family<Labels, Counter>,
    retries: Counter,
    late: Counter,
    in_flight: Gauge,
    elapsed: Gauge<f64, AtomicU64>,
    latency: Family<Labels, Gauge<f64, AtomicU64>>,
    info: Family<Labels, Gauge>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("harness");
        let m = Metrics {
            registry: Registry::default(),
            calls: Counter::default(),
            successes: Counter::default(),
            errors: Family::default(),
            retries: Counter::default(),
            late: Counter::default(),
            in_flight: Gauge::default(),
            elapsed: Gauge::default(),
            latency: Family::default(),
            info: Family::default(),
        };
        registry.register("calls", "Calls completed", m.calls.clone());
        registry.register("successes", "Calls that succeeded", m.successes.clone());
        registry.register("errors", "Calls that failed, by error class", m.errors.clone());
        registry.register("occ_retries", "OCC retries the function reported", m.retries.clone());
        registry.register("late_starts", "Calls started more than 5 ms after their intended time", m.late.clone());
        registry.register("in_flight", "Calls in flight at the end of the last second", m.in_flight.clone());
        registry.register("elapsed_seconds", "Seconds of the run recorded so far", m.elapsed.clone());
        registry.register("latency_seconds", "Latency quantiles of the last second", m.latency.clone());
        registry.register("run_info", "The run being measured", m.info.clone());
        Metrics { registry, ..m }
    }

    fn update(&self, s: &Second<'_>) {
        let st = &s.interval.stats;
        self.calls.inc_by(st.calls);
        self.successes.inc_by(st.successes);
        for class in ErrorClass::ALL {
            let n = st.errors.get(&class).copied().unwrap_or(0);
            self.errors.get_or_create(&vec![("class".into(), class.name().into())]).inc_by(n);
        }
        self.retries.inc_by(st.total_retries);
        self.late.inc_by(st.late_starts);
        self.in_flight.set(s.interval.in_flight as i64);
        self.elapsed.set(s.elapsed_s());
        for (view, h) in [("all", &st.latency_us), ("success", &st.success_latency_us)] {
            for (label, q) in [("0.5", 0.5), ("0.9", 0.9), ("0.99", 0.99), ("1", 1.0)] {
                let v = if h.count() == 0 { f64::NAN } else { h.quantile(q) as f64 / 1e6 };
                let labels = vec![("view".into(), view.into()), ("quantile".into(), label.into())];
                self.latency.get_or_create(&labels).set(v);
            }
        }
        self.info
            .get_or_create(&vec![("scenario".into(), s.scenario.into()), ("run_id".into(), s.run_id.into())])
            .set(1);
    }
}

/// The endpoint: serves the exposition rendered at the last update, so a scrape never
/// sees half a second's figures.
pub struct Exporter {
    metrics: Metrics,
    text: Arc<Mutex<String>>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Exporter {
    pub async fn listen(addr: SocketAddr) -> anyhow::Result<Exporter> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--metrics-listen {addr}: cannot listen there"))?;
        let addr = listener.local_addr()?;
        let metrics = Metrics::new();
        let text = Arc::new(Mutex::new(String::new()));
        encode(&mut *text.lock().expect("not poisoned"), &metrics.registry)?;
        let app = axum::Router::new().route("/metrics", get(scrape)).with_state(text.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("the metrics endpoint stopped: {e}");
            }
        });
        Ok(Exporter { metrics, text, addr, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn update(&self, s: &Second<'_>) -> anyhow::Result<()> {
        self.metrics.update(s);
        let mut text = String::new();
        encode(&mut text, &self.metrics.registry)?;
        *self.text.lock().expect("not poisoned") = text;
        Ok(())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn scrape(State(text): State<Arc<Mutex<String>>>) -> impl IntoResponse {
    let body = text.lock().expect("not poisoned").clone();
    ([(CONTENT_TYPE, CONTENT)], body)
}
