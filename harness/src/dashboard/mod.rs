//! `harness run --dashboard [ADDR]`: the run's report page, live. The page is
//! report.html's own renderer: a shell drawn from the plan, then every second the same
//! JSON object report.html embeds (`report::html::page_data`), pushed as server-sent
//! events and drawn by the same script. When the run ends the last event carries the
//! final report.html, which the page puts in its own place. One process or a fleet: it
//! is fed from the run's record, which both go through.
//!
//! It listens on loopback unless told otherwise, and only while the run lasts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;
use workers::{EngineEnd, Interval, Stats, StopReason};

use crate::summary::RunReport;

/// The live page's own script: it follows `/events` and redraws.
const LIVE_JS: &str = include_str!("live.js");

/// How long the final report is given to reach the pages still open, at most.
const FINAL_GRACE: Duration = Duration::from_secs(3);

/// What the server hands out: the page, and the latest event.
struct Shared {
    /// The page's shell, once the run has begun.
    shell: Mutex<Option<String>>,
    /// The latest event.
    latest: watch::Sender<Option<Arc<Latest>>>,
}

/// One event: its JSON (`{calls, successes, elapsed_s, final, data[, html]}`), and
/// whether it is the run's last.
struct Latest {
    json: String,
    last: bool,
}

/// The dashboard of one run.
pub struct Dashboard {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The run as known before its first second: plan, id and start.
    skeleton: Mutex<Option<RunReport>>,
    server: tokio::task::JoinHandle<()>,
}

impl Dashboard {
    /// Listen on `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Dashboard> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("--dashboard {addr}: cannot listen there: {e}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { shell: Mutex::new(None), latest: watch::channel(None).0 });
        let app = axum::Router::new()
            .route("/", get(page))
            .route("/events", get(events))
            .route("/data", get(data))
            // Browsers ask for it: none, rather than a 404 in their console.
            .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("the dashboard stopped serving: {e}");
            }
        });
        Ok(Dashboard { addr, shared, skeleton: Mutex::new(None), server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The run has begun: `skeleton` is its report with no second yet (plan, id, start).
    pub fn begin(&self, skeleton: RunReport) -> anyhow::Result<()> {
        let shell = live_page(&crate::report::html::render(&skeleton, None)?);
        *self.shared.shell.lock().unwrap_or_else(|p| p.into_inner()) = Some(shell);
        *self.skeleton.lock().unwrap_or_else(|p| p.into_inner()) = Some(skeleton);
        Ok(())
    }

    /// Another second: the run so far, drawn only when a page is watching.
    pub fn second(&self, totals: &Stats, intervals: &[Interval], elapsed_s: f64) {
        if self.shared.latest.receiver_count() == 0 {
            return;
        }
        let skeleton = self.skeleton.lock().unwrap_or_else(|p| p.into_inner());
        let Some(skeleton) = skeleton.as_ref() else { return };
        let mut so_far = skeleton.clone();
        let started = intervals.last().map_or(0, |i| i.started);
        so_far.end = EngineEnd { started, abandoned: 0, elapsed_s, stop: StopReason::Completed };
        so_far.totals = totals.clone();
        so_far.intervals = intervals.to_vec();
        self.publish(&so_far, None);
    }

    /// The run is over: its final report goes to every page still open, which then
    /// shows report.html itself; the server closes once they have it (or after a grace).
    pub async fn finish(&self, report: &RunReport) {
        let html = crate::report::html::render(report, None);
        if let Err(e) = &html {
            tracing::warn!("the dashboard could not draw the final report: {e:#}");
        }
        self.publish(report, Some(html.unwrap_or_default()));
        let deadline = tokio::time::Instant::now() + FINAL_GRACE;
        while self.shared.latest.receiver_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.server.abort();
    }

    fn publish(&self, r: &RunReport, final_html: Option<String>) {
        let mut event = json!({
            "calls": r.totals.calls,
            "successes": r.totals.successes,
            "elapsed_s": r.end.elapsed_s,
            "final": final_html.is_some(),
            "data": crate::report::html::page_data(r, None),
        });
        let last = final_html.is_some();
        if let Some(html) = final_html {
            event["html"] = html.into();
        }
        self.shared.latest.send_replace(Some(Arc::new(Latest { json: event.to_string(), last })));
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// report.html's page with the live banner and script.
fn live_page(report: &str) -> String {
    let banner = "<div id=\"live\" role=\"status\" style=\"position:sticky;top:0;z-index:9;padding:6px 12px;background:#1f6feb;color:#fff;font:600 14px system-ui,sans-serif\">live: waiting for the first second</div>";
    let page = report.replacen("<body>", &format!("<body>{banner}"), 1);
    page.replacen("</body>", &format!("<script>{LIVE_JS}</script></body>"), 1)
}

async fn page(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let shell = shared.shell.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // Before the run has begun: a page that looks again in a second.
    Html(shell.unwrap_or_else(|| {
        "<!DOCTYPE html><meta http-equiv=\"refresh\" content=\"1\"><p>The run is starting.</p>".to_string()
    }))
}

/// The latest event, as JSON (`{}` before the first).
async fn data(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let latest = shared.latest.borrow().clone();
    ([("content-type", "application/json")], latest.map_or_else(|| "{}".to_string(), |l| l.json.clone()))
}

/// Server-sent events: the latest at once, then each new one; the stream ends after
/// the final report.
async fn events(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let rx = shared.latest.subscribe();
    let stream = futures::stream::unfold((rx, true, false), |(mut rx, first, done)| async move {
        if done {
            return None;
        }
        let next = next_event(&mut rx, first).await?;
        Some((Ok::<_, std::convert::Infallible>(Event::default().data(next.json.as_str())), (rx, false, next.last)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The next event to send: the current one on the first call, if there is one; then
/// each change. `None` once the dashboard is gone.
async fn next_event(rx: &mut watch::Receiver<Option<Arc<Latest>>>, first: bool) -> Option<Arc<Latest>> {
    if first {
        if let Some(now) = rx.borrow_and_update().clone() {
            return Some(now);
        }
    }
    loop {
        rx.changed().await.ok()?;
        if let Some(next) = rx.borrow_and_update().clone() {
            return Some(next);
        }
    }
}
