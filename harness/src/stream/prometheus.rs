//! Prometheus: `--metrics-listen ADDR` serves `GET /metrics`, `--metrics-push URL`
//! sends the final figures to a Pushgateway. The exposition is rendered once per
//! recorded second from the run's totals (so a scrape never sees half a second's
//! figures), in both formats; a scrape gets OpenMetrics text when its `Accept` header
//! asks for it, the classic text format 0.0.4 otherwise. After the run the endpoint
//! keeps serving the final figures for `--metrics-linger` seconds (after the report is
//! written), so a 15 s scrape interval still sees them. Metric names and labels are
//! documented in docs/running.md ("Live metrics").
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
//! | `harness_call_latency_seconds` | histogram | `outcome` (success, error), `le` (see `exposition`) |
//! | `harness_run_info` | gauge (1) | `scenario`, `run_id` |

pub mod exposition;
pub mod push;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use exposition::{Format, Snapshot};
pub use push::PushUrl;
use tokio::sync::watch;
use workers::{Halt, Stats};

use super::Second;

/// Where the figures go: an address to serve them on, a Pushgateway, or both.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub listen: Option<SocketAddr>,
    pub push: Option<PushUrl>,
}

/// The last rendering, in both formats, and the run it is of.
#[derive(Default)]
struct Texts {
    text: String,
    openmetrics: String,
    run_id: String,
}

/// The server task, stopped when the last handle goes.
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Prometheus output of one run. Cloning gives another handle on the same figures
/// and server: the run's outputs hold one, and `harness run` keeps one to push and
/// linger with after the outputs are gone.
#[derive(Clone)]
pub struct Exporter {
    texts: Arc<Mutex<Texts>>,
    server: Option<Arc<Server>>,
    push: Option<PushUrl>,
}

impl Exporter {
    /// Bind the address (if any), serving zeros until the first second.
    pub async fn open(config: &Config) -> anyhow::Result<Exporter> {
        let texts = Arc::new(Mutex::new(Texts::default()));
        let empty = Stats::default();
        let zero = Snapshot { scenario: "", run_id: "", elapsed_s: 0.0, in_flight: 0, totals: &empty };
        store(&texts, &zero);
        let server = match config.listen {
            Some(addr) => Some(Arc::new(serve(addr, texts.clone()).await?)),
            None => None,
        };
        Ok(Exporter { texts, server, push: config.push.clone() })
    }

    /// The address served on, if any.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(|s| s.addr)
    }

    pub fn update(&self, s: &Second<'_>) {
        let snap = Snapshot {
            scenario: s.scenario,
            run_id: s.run_id,
            elapsed_s: s.elapsed_s(),
            in_flight: s.interval.in_flight,
            totals: s.totals,
        };
        store(&self.texts, &snap);
    }

    /// After the run: push the final figures (if asked; a failed push is reported and
    /// the run's outcome stands), then keep serving them for `linger` unless `halt`
    /// changes (a signal: Ctrl-C ends the wait at once). `linger` is skipped without an
    /// endpoint. What it does is said on stderr.
    pub async fn finish(&self, linger: Duration, mut halt: watch::Receiver<Halt>) {
        if let Some(url) = &self.push {
            let (run_id, body) = {
                let texts = self.texts.lock().unwrap_or_else(|p| p.into_inner());
                (texts.run_id.clone(), texts.text.clone())
            };
            if run_id.is_empty() {
                eprintln!("warning: --metrics-push {url}: no second was recorded, nothing pushed");
            } else {
                match url.push(&run_id, &body).await {
                    Ok(()) => eprintln!("Pushed the final metrics to {}", url.group(&run_id)),
                    Err(e) => eprintln!("warning: {e}"),
                }
            }
        }
        let Some(addr) = self.addr() else { return };
        if linger.is_zero() {
            return;
        }
        eprintln!(
            "Serving the final metrics on http://{addr}/metrics for {}s (--metrics-linger); Ctrl-C to stop now",
            linger.as_secs_f64()
        );
        halt.borrow_and_update();
        tokio::select! {
            () = tokio::time::sleep(linger) => {}
            _ = halt.changed() => {}
        }
    }
}

fn store(texts: &Mutex<Texts>, snap: &Snapshot<'_>) {
    let text = exposition::render(snap, Format::Text);
    let openmetrics = exposition::render(snap, Format::OpenMetrics);
    let mut t = texts.lock().unwrap_or_else(|p| p.into_inner());
    *t = Texts { text, openmetrics, run_id: snap.run_id.to_string() };
}

async fn serve(addr: SocketAddr, texts: Arc<Mutex<Texts>>) -> anyhow::Result<Server> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-listen {addr}: cannot listen there"))?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route("/metrics", get(scrape)).with_state(texts);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the metrics endpoint stopped: {e}");
        }
    });
    Ok(Server { addr, task })
}

async fn scrape(State(texts): State<Arc<Mutex<Texts>>>, headers: HeaderMap) -> impl IntoResponse {
    let format = Format::negotiate(headers.get(ACCEPT).and_then(|v| v.to_str().ok()));
    let texts = texts.lock().unwrap_or_else(|p| p.into_inner());
    let body = match format {
        Format::Text => texts.text.clone(),
        Format::OpenMetrics => texts.openmetrics.clone(),
    };
    ([(CONTENT_TYPE, format.content_type())], body)
}
