//! One client's session through the front: each simple Query, and each extended-protocol
//! Execute with the messages before it, is checked against DSQL's dialect and limits,
//! then run on the backend, writes under optimistic concurrency (`occ`), COMMIT
//! adjudicated as DSQL adjudicates it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

pub use super::backend::Backend;
use super::dialect::{self, Refusal, Statement};
use super::occ::Deferred;
use super::shared::Shared;
use super::wire::{self, Bind, Frame, Parse};

/// Output to the client is written out when it grows past this.
const FLUSH_AT: usize = 64 << 10;

/// A statement the client prepared.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub name: String,
    pub sql: String,
    pub kind: Statement,
    pub param_types: Vec<i32>,
}

/// An explicit transaction, as the front follows it.
#[derive(Debug)]
pub struct Txn {
    pub started: Instant,
    pub rows: u64,
    pub bytes: u64,
    pub ddl: bool,
    pub dml: bool,
    pub schema: u64,
    pub deferred: Vec<Deferred>,
    /// A savepoint of the front's is open (released before the next write's).
    pub savepoint: bool,
    /// A write went through after one was deferred: replaying the deferred one at
    /// COMMIT would apply them out of order, so the transaction conflicts.
    pub applied_after_defer: bool,
}

impl Txn {
    /// A transaction that begins now, under the schema's `schema`-th version.
    pub fn new(schema: u64) -> Txn {
        Txn {
            started: Instant::now(),
            rows: 0,
            bytes: 0,
            ddl: false,
            dml: false,
            schema,
            deferred: vec![],
            savepoint: false,
            applied_after_defer: false,
        }
    }
}

/// What a client sends together: statements of a simple Query, or extended-protocol
/// messages up to each Execute.
enum Unit {
    Statement(Box<Step>),
    Group(Vec<Frame>),
}

/// One step's statement: its text and, in the extended protocol, its messages.
pub struct Step {
    pub prepared: Prepared,
    /// The client's messages for this statement, ending with Sync (extended), or None.
    pub group: Option<Vec<Frame>>,
    pub bind: Option<Bind>,
}

impl Step {
    /// The frames that run it on the backend.
    pub fn frames(&self) -> Vec<Frame> {
        match &self.group {
            Some(g) => g.clone(),
            None => vec![wire::query(&self.prepared.sql)],
        }
    }

    pub fn extended(&self) -> bool {
        self.group.is_some()
    }
}

pub struct Session<R, W> {
    pub(super) read: R,
    pub(super) write: W,
    pub(super) out: Vec<u8>,
    pub(super) backend: Backend,
    pub(super) shared: Arc<Shared>,
    pub(super) user: String,
    pub(super) statements: HashMap<String, Prepared>,
    pub(super) portals: HashMap<String, String>,
    pub(super) txn: Option<Txn>,
    /// The transaction was ended by the front (a refusal, a limit): until ROLLBACK or
    /// COMMIT, statements are ignored, as in PostgreSQL.
    pub(super) failed: bool,
    pub(super) status: u8,
    pub(super) connected: Instant,
    /// While set, CommandCompletes are not passed on (an implicit transaction's COMMIT).
    pub(super) quiet: bool,
    /// The transaction was ended by its age limit while the client was idle.
    pub(super) expired: bool,
    /// A flushed batch failed: messages are ignored until the next Sync.
    pub(super) discarding: bool,
}

impl<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub fn new(read: R, write: W, backend: Backend, shared: Arc<Shared>, user: String) -> Self {
        Session {
            read,
            write,
            out: Vec::new(),
            backend,
            shared,
            user,
            statements: HashMap::new(),
            portals: HashMap::new(),
            txn: None,
            failed: false,
            status: b'I',
            connected: Instant::now(),
            quiet: false,
            expired: false,
            discarding: false,
        }
    }

    /// Serve messages until the client leaves or the connection's lifetime ends.
    pub async fn run(mut self) -> std::io::Result<()> {
        loop {
            self.until_message_or_age().await?;
            let batch = self.read_batch().await?;
            if self.connected.elapsed() > self.shared.config.limits.connection_lifetime && self.status == b'I' {
                let minutes = self.shared.config.limits.connection_lifetime.as_secs_f64() / 60.0;
                let bye = wire::error(
                    "FATAL",
                    "57P01",
                    &format!("connection lifetime of {minutes} minutes exceeded; reconnect"),
                );
                self.send(&[bye]);
                return self.flush().await;
            }
            let latency = self.shared.latency_us.load(Ordering::Relaxed);
            if latency > 0 {
                tokio::time::sleep(std::time::Duration::from_micros(latency)).await;
            }
            let mut batch = batch;
            let last = batch.last().map(|f| f.tag);
            match last {
                Some(b'X') => {
                    let _ = self.backend.send(&batch).await;
                    return Ok(());
                }
                Some(b'Q') => {
                    let sql = batch[0].cstr(0).map(|(s, _)| s.to_string()).unwrap_or_default();
                    self.simple(&sql).await?
                }
                Some(b'H') => {
                    // Flush: the answers so far, without a ReadyForQuery (node-pg's
                    // cursors, pg8000 between its messages).
                    batch.pop();
                    self.extended(batch, false).await?
                }
                _ => self.extended(batch, true).await?,
            }
            self.flush().await?;
        }
    }

    /// The client's next batch: up to a Query, Sync, Terminate or Flush. A Flush with
    /// more already sent behind it (pg8000 writes Parse, Flush, Sync at once) does not
    /// end the batch. After an error in a flushed batch, messages up to the next Sync
    /// are discarded, as PostgreSQL does.
    async fn read_batch(&mut self) -> std::io::Result<Vec<Frame>> {
        let mut batch = Vec::new();
        loop {
            let frame = wire::read_frame(&mut self.read).await?;
            let tag = frame.tag;
            if self.discarding && tag != b'S' && tag != b'X' {
                continue;
            }
            if tag == b'S' {
                self.discarding = false;
            }
            if tag == b'H' && self.more_sent() {
                continue;
            }
            batch.push(frame);
            if matches!(tag, b'Q' | b'S' | b'X' | b'H') {
                return Ok(batch);
            }
        }
    }

    /// Whether the client has sent more than what was read (without waiting for it).
    fn more_sent(&mut self) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let read = std::pin::Pin::new(&mut self.read);
        matches!(read.poll_fill_buf(&mut cx), std::task::Poll::Ready(Ok(b)) if !b.is_empty())
    }

    /// Wait for the client's next message; a transaction that reaches its age limit
    /// meanwhile is rolled back now (its rows are no longer held), as DSQL ends it, and
    /// the next statement is told why.
    async fn until_message_or_age(&mut self) -> std::io::Result<()> {
        let Some(started) = self.txn.as_ref().map(|t| t.started) else { return Ok(()) };
        let deadline = started + self.shared.config.limits.transaction_age;
        tokio::select! {
            ready = self.read.fill_buf() => ready.map(|_| ()),
            () = tokio::time::sleep_until(deadline.into()) => {
                self.rollback_backend().await?;
                self.txn = None;
                self.failed = true;
                self.expired = true;
                Ok(())
            }
        }
    }

    pub(super) fn send(&mut self, frames: &[Frame]) {
        for f in frames.iter().filter(|f| !(self.quiet && f.tag == b'C')) {
            f.encode(&mut self.out);
        }
    }

    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.write.write_all(&self.out).await?;
            self.write.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    /// The status the client is told in ReadyForQuery.
    pub(super) fn client_status(&self) -> u8 {
        match (self.failed, self.txn.is_some()) {
            (true, _) => b'E',
            (false, true) if self.status == b'E' => b'E',
            (false, true) => b'T',
            (false, false) => b'I',
        }
    }

    /// DSQL's answer to a transaction past its age limit.
    pub(super) fn age_refusal(&self) -> Refusal {
        let secs = self.shared.config.limits.transaction_age.as_secs();
        refusal(dialect::LIMIT_SQLSTATE, &format!("transaction age limit of {secs}s exceeded"))
    }

    /// A simple Query: its statements one by one, stopping at the first error.
    async fn simple(&mut self, sql: &str) -> std::io::Result<()> {
        let parts = dialect::split(sql);
        if parts.is_empty() {
            self.send(&[Frame::new(b'I', Vec::new())]);
        }
        let units = parts
            .into_iter()
            .map(|part| {
                let kind = dialect::classify(part);
                let prepared = Prepared { name: String::new(), sql: part.to_string(), kind, param_types: vec![] };
                Unit::Statement(Box::new(Step { prepared, group: None, bind: None }))
            })
            .collect();
        self.run_units(units, true).await
    }

    /// Run what the client sent together, one by one until an error, as one implicit
    /// transaction where PostgreSQL makes one; then tell the client the status.
    async fn run_units(&mut self, units: Vec<Unit>, ready: bool) -> std::io::Result<()> {
        let kinds: Vec<Statement> = units
            .iter()
            .filter_map(|u| match u {
                Unit::Statement(step) => Some(step.prepared.kind.clone()),
                Unit::Group(group) => self.kind_of(group),
            })
            .collect();
        let implicit = units.len() > 1 && self.implicit(&kinds);
        if implicit {
            self.begin_implicit().await?;
        }
        let mut ok = true;
        for unit in units {
            ok = match unit {
                Unit::Statement(step) => self.step(*step).await?,
                Unit::Group(group) => self.group(group).await?,
            };
            if !ok {
                break;
            }
        }
        if implicit {
            // A COMMIT that failed (OC000) is an error like any other: in a flushed
            // batch, what follows up to the Sync is discarded.
            ok = self.end_implicit(ok).await? && ok;
        }
        if ready {
            let status = self.client_status();
            self.send(&[wire::ready(status)]);
        } else if !ok {
            self.discarding = true;
        }
        Ok(())
    }

    /// An extended-protocol batch, cut after each Execute into steps of their own.
    async fn extended(&mut self, batch: Vec<Frame>, ready: bool) -> std::io::Result<()> {
        let mut group = Vec::new();
        let mut groups = Vec::new();
        for frame in batch {
            let tag = frame.tag;
            if tag == b'S' {
                continue;
            }
            group.push(frame);
            if tag == b'E' {
                groups.push(std::mem::take(&mut group));
            }
        }
        if !group.is_empty() {
            groups.push(group);
        }
        self.run_units(groups.into_iter().map(Unit::Group).collect(), ready).await
    }

    /// Follow the group's Parse/Bind/Close; run it as a step (or pass it on).
    async fn group(&mut self, mut group: Vec<Frame>) -> std::io::Result<bool> {
        let mut bind = None;
        let mut refused = None;
        for frame in &group {
            match frame.tag {
                b'P' => {
                    if let Some(p) = Parse::decode(frame) {
                        let kind = dialect::classify(&p.sql);
                        if let Statement::Refused(r) = &kind {
                            refused = Some(r.clone());
                        }
                        let prepared = Prepared { name: p.name.clone(), sql: p.sql, kind, param_types: p.param_types };
                        self.statements.insert(p.name, prepared);
                    }
                }
                b'B' => {
                    if let Some(b) = Bind::decode(frame) {
                        self.portals.insert(b.portal.clone(), b.statement.clone());
                        bind = Some(b);
                    }
                }
                _ => {}
            }
        }
        if let Some(r) = refused {
            return self.refuse(r).await;
        }
        let execute = group.iter().rev().find(|f| f.tag == b'E').and_then(wire::target).map(|(_, portal)| portal);
        let statement = execute.and_then(|p| self.portals.get(&p).cloned());
        group.push(wire::sync());
        let Some(prepared) = statement.and_then(|s| self.statements.get(&s).cloned()) else {
            return self.prepare_only(group).await;
        };
        self.step(Step { prepared, group: Some(group), bind }).await
    }

    /// Messages without an Execute (a prepare, a describe, a close).
    async fn prepare_only(&mut self, group: Vec<Frame>) -> std::io::Result<bool> {
        let local = group
            .iter()
            .filter(|f| f.tag == b'P')
            .filter_map(Parse::decode)
            .any(|p| is_local(&dialect::classify(&p.sql)));
        if local {
            self.answer_prepare(&group);
            return Ok(true);
        }
        self.relay(&group).await
    }

    /// Run a step: DSQL's checks, then by kind.
    pub(super) async fn step(&mut self, step: Step) -> std::io::Result<bool> {
        if let Some(refusal) = self.admit(&step.prepared) {
            let refused = self.refuse(refusal).await;
            if step.prepared.kind == Statement::Commit {
                // A COMMIT refused (the transaction's age) still ends the transaction.
                (self.txn, self.failed, self.expired) = (None, false, false);
            }
            return refused;
        }
        match step.prepared.kind.clone() {
            Statement::Begin { .. } => self.begin(step).await,
            Statement::Commit => self.commit(step).await,
            Statement::Rollback => self.rollback(step).await,
            Statement::Write | Statement::ReadForUpdate => self.write_step(step).await,
            Statement::Ddl => self.ddl(step).await,
            kind if is_local(&kind) => self.run_local(step).await,
            _ => self.relay(&step.frames()).await,
        }
    }

    /// What DSQL refuses before running: dialect, aborted transaction, age, DDL rules.
    fn admit(&self, prepared: &Prepared) -> Option<Refusal> {
        let kind = &prepared.kind;
        if let Statement::Refused(r) = kind {
            return Some(r.clone());
        }
        if self.expired && !matches!(kind, Statement::Rollback) {
            return Some(self.age_refusal());
        }
        let aborted = self.failed || (self.txn.is_some() && self.status == b'E');
        if aborted && !matches!(kind, Statement::Commit | Statement::Rollback) {
            return Some(refusal(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let txn = self.txn.as_ref()?;
        if txn.started.elapsed() > self.shared.config.limits.transaction_age
            && !matches!(kind, Statement::Rollback | Statement::Commit)
        {
            return Some(self.age_refusal());
        }
        let is_ddl = matches!(kind, Statement::Ddl | Statement::AsyncIndex { .. });
        if is_ddl && txn.ddl {
            return Some(refusal("0A000", dialect::MULTIPLE_DDL_MESSAGE));
        }
        if (is_ddl && txn.dml) || (txn.ddl && matches!(kind, Statement::Write | Statement::ReadForUpdate)) {
            return Some(refusal("0A000", dialect::DDL_DML_MIX_MESSAGE));
        }
        None
    }

    /// Answer with an error; inside a transaction, the transaction is over.
    pub(super) async fn refuse(&mut self, r: Refusal) -> std::io::Result<bool> {
        self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        if self.txn.is_some() && !self.failed {
            self.backend.simple("ROLLBACK").await?;
            self.txn = None;
            self.failed = true;
        }
        self.send(&[wire::error("ERROR", r.sqlstate, &r.message)]);
        Ok(false)
    }

    /// Run frames on the backend, passing rows and descriptions straight through;
    /// CommandComplete and errors (as DSQL words them) follow. True if no error.
    pub(super) async fn relay(&mut self, frames: &[Frame]) -> std::io::Result<bool> {
        self.backend.send(frames).await?;
        let mut ok = true;
        loop {
            let frame = self.backend.read().await?;
            match frame.tag {
                b'Z' => {
                    self.status = frame.body.first().copied().unwrap_or(b'I');
                    return Ok(ok);
                }
                b'E' => {
                    ok = false;
                    let e = self.dsql_error(frame);
                    self.send(&[e]);
                }
                _ => {
                    self.send(&[frame]);
                    if self.out.len() > FLUSH_AT {
                        self.flush().await?;
                    }
                }
            }
        }
    }

    /// PostgreSQL's lock and serialization errors become DSQL's OC000.
    pub(super) fn dsql_error(&self, e: Frame) -> Frame {
        if is_conflict(&e) {
            self.shared.counters.oc000.fetch_add(1, Ordering::Relaxed);
            return wire::error("ERROR", "40001", dialect::OC000_MESSAGE);
        }
        e
    }

    /// Put the backend's transaction back to where it was before the last write.
    pub(super) async fn rollback_backend(&mut self) -> std::io::Result<()> {
        self.backend.simple("ROLLBACK").await?;
        self.status = b'I';
        Ok(())
    }
}

/// Whether an error is a lock wait cut short or a write after the snapshot.
pub fn is_conflict(e: &Frame) -> bool {
    matches!(wire::sqlstate(e).as_str(), "55P03" | "40001" | "40P01")
}

pub fn refusal(sqlstate: &'static str, message: &str) -> Refusal {
    Refusal { sqlstate, message: message.to_string() }
}

/// Statements the front answers itself (they never reach PostgreSQL as written).
pub fn is_local(kind: &Statement) -> bool {
    matches!(
        kind,
        Statement::AsyncIndex { .. }
            | Statement::IamGrant { .. }
            | Statement::IamRevoke { .. }
            | Statement::WaitForJob { .. }
    )
}
