//! The local stack's server-side view: the local endpoint's own counters, and what
//! PostgreSQL counted for the accounts database between two snapshots around the load
//! (`pg_stat_database`'s commits and rollbacks, and the serialization failures its log
//! recorded).

use std::path::{Path, PathBuf};
use std::time::Duration;

use transfer::local::EnvironmentStats;

use super::{DatabaseSide, LambdaSide, ServerView};

/// PostgreSQL's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgSnapshot {
    pub commits: u64,
    pub rollbacks: u64,
    /// Errors in the server log that abort a transaction for another's sake: the
    /// serialization failures (SQLSTATE 40001) and deadlocks (40P01), both of which the
    /// function retries as DSQL's OCC conflicts.
    pub serialization_failures: Option<u64>,
    /// Taken once no other session was left and two reads agreed: every commit counted.
    pub settled: bool,
    /// The conflicts were counted by the local DSQL front (OC000 and OC001), not read
    /// from PostgreSQL's log.
    pub by_front: bool,
}

/// Where the conflicts are counted: PostgreSQL's log, or the DSQL front's counters.
#[derive(Debug, Clone, Copy)]
pub enum ConflictSource<'a> {
    Log(Option<&'a Path>),
    /// The front's OC000 + OC001 so far.
    Front(u64),
}

/// What PostgreSQL logs for SQLSTATE 40001 at REPEATABLE READ, and for 40P01.
const CONFLICTS: [&str; 2] = ["ERROR:  could not serialize access", "ERROR:  deadlock detected"];

/// The database's counters, once every session but this one and `own` (the harness's
/// other sessions, by server process id) has gone and two reads 200 ms apart agree (a session's statistics reach `pg_stat_database` as it ends, a moment
/// after it leaves `pg_stat_activity`, or after it idles a while); `settled` says
/// whether that happened within about 5 s.
pub async fn snapshot(
    client: &tokio_postgres::Client,
    conflicts: ConflictSource<'_>,
    own: &[i32],
) -> anyhow::Result<PgSnapshot> {
    snapshot_within(client, conflicts, own, SNAPSHOT_TIMEOUT).await
}

/// The longest a snapshot may take, its 5 s of waiting for the counters to settle
/// included, before its query is cancelled and the view left out as incomplete.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// `snapshot` within `limit`; beyond it the query in flight is cancelled (best effort: a
/// connection over TLS takes no plain cancel request) and the error says that the
/// server-side view is incomplete, and after how long it gave up.
pub async fn snapshot_within(
    client: &tokio_postgres::Client,
    conflicts: ConflictSource<'_>,
    own: &[i32],
    limit: Duration,
) -> anyhow::Result<PgSnapshot> {
    match tokio::time::timeout(limit, read_snapshot(client, conflicts, own)).await {
        Ok(snapshot) => snapshot,
        Err(_) => {
            let ended = match transfer::db::cancel_running(client).await {
                Ok(()) => "cancelled".to_string(),
                Err(e) => format!("abandoned ({e})"),
            };
            anyhow::bail!(
                "incomplete: PostgreSQL's statistics (pg_stat_activity, pg_stat_database) did not answer within {} s; \
                 the query was {ended}",
                limit.as_secs_f64()
            )
        }
    }
}

async fn read_snapshot(
    client: &tokio_postgres::Client,
    conflicts: ConflictSource<'_>,
    own: &[i32],
) -> anyhow::Result<PgSnapshot> {
    let mut last = None;
    let mut settled = false;
    for _ in 0..25 {
        let others: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND backend_type = 'client backend' AND pid <> ALL($1)",
                &[&own],
            )
            .await?
            .get(0);
        let counts = counters(client).await?;
        if others == 0 && last == Some(counts) {
            settled = true;
            break;
        }
        last = Some(counts);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (commits, rollbacks) = counters(client).await?;
    let (failures, by_front) = match conflicts {
        ConflictSource::Log(Some(path)) => (Some(count_lines(path, &CONFLICTS)?), false),
        ConflictSource::Log(None) => (None, false),
        ConflictSource::Front(n) => (Some(n), true),
    };
    Ok(PgSnapshot { commits, rollbacks, serialization_failures: failures, settled, by_front })
}

/// `pg_stat_database`'s commits and rollbacks for this database, read afresh.
async fn counters(client: &tokio_postgres::Client) -> anyhow::Result<(u64, u64)> {
    client.batch_execute("SELECT pg_stat_clear_snapshot()").await?;
    let row = client
        .query_one(
            "SELECT xact_commit::bigint, xact_rollback::bigint FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await?;
    Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
}

fn count_lines(path: &Path, needles: &[&str]) -> anyhow::Result<u64> {
    let text = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok(String::from_utf8_lossy(&text).lines().filter(|l| needles.iter().any(|n| l.contains(n))).count() as u64)
}

/// The view from the endpoint's counters (none for the in-process target's pool: it is
/// not Lambda) and the two snapshots, over the window `from`..`to`.
pub fn view(
    endpoint: Option<&EnvironmentStats>,
    before: PgSnapshot,
    after: PgSnapshot,
    log: Option<&PathBuf>,
    window: (crate::clock::Timestamp, crate::clock::Timestamp),
) -> ServerView {
    let lambda = endpoint.map(|e| LambdaSide {
        invocations: Some(e.invocations),
        errors: Some(e.function_errors),
        throttles: Some(e.throttles),
        max_concurrency: Some(e.peak_concurrency),
        cold_starts: Some(e.cold_starts),
        ..LambdaSide::default()
    });
    let conflicts = after.serialization_failures.zip(before.serialization_failures).map(|(a, b)| a.saturating_sub(b));
    let mut notes =
        vec!["commits and rollbacks also count each connection's set-up statements and the harness's own".to_string()];
    if !after.settled {
        notes.push(
            "PostgreSQL's counters were still moving, or other sessions still open, when read: the commits may be short"
                .into(),
        );
    }
    if after.by_front {
        notes.push("OCC conflicts are the local DSQL front's count of OC000 and OC001 answers".into());
    } else if log.is_none() {
        notes.push(
            "serialization failures are counted from the server log, which only a throwaway PostgreSQL gives".into(),
        );
    }
    ServerView {
        source: match (endpoint, after.by_front) {
            (Some(_), true) => {
                "the local endpoint's counters, the DSQL front's and PostgreSQL's pg_stat_database".into()
            }
            (None, true) => "the DSQL front's counters and PostgreSQL's pg_stat_database".into(),
            (Some(_), false) => "the local endpoint's counters and PostgreSQL's pg_stat_database and server log".into(),
            (None, false) => "PostgreSQL's pg_stat_database and server log".into(),
        },
        from: window.0,
        to: window.1,
        complete: after.settled,
        notes,
        lambda,
        database: Some(DatabaseSide {
            committed: Some(after.commits.saturating_sub(before.commits)),
            rolled_back: Some(after.rollbacks.saturating_sub(before.rollbacks)),
            occ_conflicts: conflicts,
            ..DatabaseSide::default()
        }),
    }
}
