//! The server-side view in the STATS block, each figure beside what the client saw.

use std::fmt::Write;

use workers::{ErrorClass, Stats};

use super::thousands;
use crate::server::ServerView;

pub fn server(s: &mut String, v: &ServerView, t: &Stats) -> std::fmt::Result {
    let state = if v.complete { "" } else { " - INCOMPLETE" };
    writeln!(s, "\nServer-side View ({}{state}):", v.source)?;
    let n = |v: Option<u64>| v.map_or("not available".to_string(), thousands);
    let class = |c: ErrorClass| t.errors.get(&c).copied().unwrap_or(0);
    if let Some(l) = &v.lambda {
        let answered = t.answered();
        writeln!(
            s,
            "  Invocations:        client saw {} answered; Lambda counted {}",
            thousands(answered),
            n(l.invocations)
        )?;
        let errors = class(ErrorClass::Function);
        writeln!(s, "  Function errors:    client saw {}; Lambda counted {}", thousands(errors), n(l.errors))?;
        let throttles = class(ErrorClass::Throttle);
        writeln!(s, "  Throttles:          client saw {}; Lambda counted {}", thousands(throttles), n(l.throttles))?;
        writeln!(s, "  Peak concurrency:   {}", n(l.max_concurrency))?;
        if let (Some(p50), Some(p99)) = (l.duration_p50_ms, l.duration_p99_ms) {
            writeln!(s, "  Duration p50 / p99: {p50:.2}ms / {p99:.2}ms")?;
        }
        if let Some(c) = l.cold_starts {
            writeln!(s, "  New environments:   {}", thousands(c))?;
        }
    }
    if let Some(d) = &v.database {
        let ran = t.successes + class(ErrorClass::Business);
        writeln!(
            s,
            "  Committed:          {} transactions (client saw {} transfers complete)",
            n(d.committed),
            thousands(ran)
        )?;
        if let Some(r) = d.rolled_back {
            writeln!(s, "  Rolled back:        {}", thousands(r))?;
        }
        writeln!(
            s,
            "  OCC conflicts:      client saw {} retries; the database counted {}",
            thousands(t.total_retries),
            n(d.occ_conflicts)
        )?;
        if let Some(ms) = d.commit_latency_ms {
            writeln!(s, "  Commit latency:     {ms:.2}ms")?;
        }
        if let Some(dpus) = d.dpus {
            writeln!(s, "  DPUs:               {dpus:.0}")?;
        }
    }
    for note in &v.notes {
        writeln!(s, "  Note: {note}")?;
    }
    Ok(())
}
