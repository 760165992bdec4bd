//! BEGIN, writes, DDL and COMMIT as DSQL runs them (see `occ` for the approach).

use std::sync::atomic::Ordering;

use tokio::io::{AsyncBufRead, AsyncWrite};

use super::backend::{close, first_column, Backend, Reply};
use super::dialect;
use super::occ::{self, Deferred, Rewrite, Verdict};
use super::session::{is_conflict, Session, Step, Txn};
use super::wire::{self, with_text_results, Bind, Frame, Parse};

const SAVEPOINT: &str = "SAVEPOINT dsql_occ";

impl<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// BEGIN, and a first read so the snapshot is taken now, as DSQL takes it.
    pub(super) async fn begin(&mut self, step: Step) -> std::io::Result<bool> {
        if self.txn.is_some() || self.failed {
            return self.relay(&step.frames()).await;
        }
        let mut frames = step.frames();
        frames.extend(Backend::internal("SELECT 1"));
        let replies = self.backend.run_each(&frames, 2).await?;
        self.status = replies[1].status;
        let failed = replies[0].error().is_some();
        self.send(&replies[0].frames);
        if !failed {
            self.txn = Some(Txn::new(self.shared.schema_version.load(Ordering::SeqCst)));
        }
        Ok(!failed)
    }

    pub(super) async fn rollback(&mut self, step: Step) -> std::io::Result<bool> {
        self.txn = None;
        self.expired = false;
        if self.failed {
            self.failed = false;
            let done = self.answer(&step, vec![wire::command_complete("ROLLBACK")]);
            self.send(&done);
            return Ok(true);
        }
        self.relay(&step.frames()).await
    }

    /// End the transaction with an error (the backend's is rolled back).
    async fn abort_with(&mut self, sqlstate: &'static str, message: &str) -> std::io::Result<bool> {
        self.rollback_backend().await?;
        self.txn = None;
        self.send(&[wire::error("ERROR", sqlstate, message)]);
        Ok(false)
    }

    /// COMMIT: the deferred writes' fate, the schema's version, then PostgreSQL's COMMIT.
    pub(super) async fn commit(&mut self, step: Step) -> std::io::Result<bool> {
        let Some(txn) = self.txn.take() else {
            if self.failed {
                self.failed = false;
                let done = self.answer(&step, vec![wire::command_complete("ROLLBACK")]);
                self.send(&done);
                return Ok(true);
            }
            return self.relay(&step.frames()).await;
        };
        if self.status == b'E' {
            return self.relay(&step.frames()).await;
        }
        if txn.started.elapsed() > self.shared.config.limits.transaction_age {
            let refusal = self.age_refusal();
            return self.abort_with(refusal.sqlstate, &refusal.message).await;
        }
        let replay = if txn.applied_after_defer { Verdict::Conflict } else { Verdict::Replay };
        if !txn.deferred.is_empty()
            && (replay == Verdict::Conflict || self.settle(&txn.deferred).await? == Verdict::Conflict)
        {
            self.shared.counters.oc000.fetch_add(1, Ordering::Relaxed);
            return self.abort_with("40001", dialect::OC000_MESSAGE).await;
        }
        if txn.dml && self.shared.schema_version.load(Ordering::SeqCst) != txn.schema {
            self.shared.counters.oc001.fetch_add(1, Ordering::Relaxed);
            return self.abort_with("40001", dialect::OC001_MESSAGE).await;
        }
        let ok = self.relay(&step.frames()).await?;
        if ok && txn.ddl {
            self.shared.schema_version.fetch_add(1, Ordering::SeqCst);
        }
        Ok(ok)
    }

    /// Whether the deferred writes may now be applied (and apply them), or conflict.
    async fn settle(&mut self, deferred: &[Deferred]) -> std::io::Result<Verdict> {
        let mut xids = Vec::new();
        for d in deferred {
            match &d.blockers {
                Some(b) => xids.extend(b),
                None => return Ok(Verdict::Conflict),
            }
        }
        let reply = self.backend.simple(&occ::fate_query(&xids)).await?;
        if reply.error().is_some() || occ::verdict(&reply.column()) == Verdict::Conflict {
            return Ok(Verdict::Conflict);
        }
        for d in deferred {
            let frames = match &d.bind {
                Some(rest) => {
                    let mut frames = prepared_read("dsql_replay", &d.sql, &d.param_types, rest.clone());
                    frames.push(wire::sync());
                    frames
                }
                None => Backend::internal(&d.sql),
            };
            // Applied now, it must do what the client was told it did.
            let reply = self.backend.run(&frames, 1).await?;
            let changed: u64 = reply.tags().map(wire::rows_changed).sum();
            let rows = reply.frames.iter().filter(|f| f.tag == b'D').count() as u64;
            if reply.error().is_some() || changed.max(rows) != d.count {
                return Ok(Verdict::Conflict);
            }
        }
        Ok(Verdict::Replay)
    }

    /// DDL: one per transaction, never with DML. It waits for the transactions using the
    /// table, which DSQL's does not: so the schema's version is bumped when it starts
    /// (those transactions get OC001 at COMMIT and let it through) and when it commits.
    pub(super) async fn ddl(&mut self, step: Step) -> std::io::Result<bool> {
        self.shared.schema_version.fetch_add(1, Ordering::SeqCst);
        let in_txn = self.txn.is_some();
        self.backend.simple(if in_txn { "SET LOCAL lock_timeout = 0" } else { "SET lock_timeout = 0" }).await?;
        let ok = self.relay(&step.frames()).await?;
        if !in_txn {
            self.backend.simple("RESET lock_timeout").await?;
        }
        match self.txn.as_mut() {
            Some(txn) => txn.ddl |= ok,
            None if ok => {
                self.shared.schema_version.fetch_add(1, Ordering::SeqCst);
            }
            None => {}
        }
        Ok(ok)
    }

    /// A write (or SELECT ... FOR UPDATE): under a savepoint; a would-be wait is deferred.
    pub(super) async fn write_step(&mut self, step: Step) -> std::io::Result<bool> {
        if self.txn.is_none() {
            return self.autocommit(step).await;
        }
        // The savepoint of the transaction's last write is released first: never more
        // than one open, however many writes.
        let held = self.txn.as_ref().is_some_and(|t| t.savepoint);
        let open: &[&str] = if held { &["RELEASE SAVEPOINT dsql_occ", SAVEPOINT] } else { &[SAVEPOINT] };
        let reply = self.attempt_write(&step, open, "ROLLBACK TO SAVEPOINT dsql_occ").await?;
        if let Some(txn) = self.txn.as_mut() {
            txn.savepoint = true;
        }
        self.status = reply.status;
        match reply.error() {
            None => self.count_write(&step, reply).await,
            Some(e) if is_conflict(e) => self.defer(step, reply).await,
            Some(_) => {
                self.send(&reply.frames);
                Ok(false)
            }
        }
    }

    /// Run a write after `open` (savepoint statements, or BEGIN). A lock it could not
    /// take at once may be a row another transaction holds, or only a moment's lock (a
    /// table being extended by another insert): it is tried again a few times, after
    /// `undo`, before it counts as a conflict.
    async fn attempt_write(&mut self, step: &Step, open: &[&str], undo: &str) -> std::io::Result<Reply> {
        let cancels = self.shared.counters.cancels.load(Ordering::SeqCst);
        let mut frames: Vec<Frame> = open.iter().flat_map(|sql| Backend::internal(sql)).collect();
        frames.extend(step.frames());
        let mut reply = self.backend.run_each(&frames, open.len() + 1).await?.pop().unwrap_or_default();
        for _ in 0..LOCK_RETRIES {
            // PostgreSQL reports a lock timeout that races with the lock being granted as
            // a cancel "due to user request": unless a client did ask to cancel, it is one.
            let asked = self.shared.counters.cancels.load(Ordering::SeqCst) != cancels;
            let lock = |e: &Frame| match wire::sqlstate(e).as_str() {
                LOCK_NOT_AVAILABLE => true,
                QUERY_CANCELED => !asked,
                _ => false,
            };
            if !reply.error().is_some_and(lock) {
                break;
            }
            self.backend.simple(undo).await?;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            // The retry starts at the first message left unanswered (a row lock fails
            // the Execute, a table lock the Parse or the Bind), but never after the Bind:
            // the failed portal is gone. After ROLLBACK TO the savepoint is still there;
            // after ROLLBACK, BEGIN again.
            let reopen: Vec<&str> = if undo == "ROLLBACK" { vec!["BEGIN"] } else { vec![] };
            let mut frames: Vec<Frame> = reopen.iter().flat_map(|sql| Backend::internal(sql)).collect();
            let sent = step.frames();
            let (done, _) = if step.extended() { answered(&sent, &reply.frames) } else { (0, 0) };
            let restart = sent.iter().position(|f| f.tag == b'B').map_or(done, |bind| done.min(bind));
            frames.extend(sent[restart..].iter().cloned());
            let retry = self.backend.run_each(&frames, reopen.len() + 1).await?.pop().unwrap_or_default();
            // A simple query's retry answers the whole statement.
            reply = if step.extended() { retried(reply, retry, &sent[restart..done]) } else { retry };
        }
        // Still a lock after the retries: a conflict, however PostgreSQL worded it.
        let asked = self.shared.counters.cancels.load(Ordering::SeqCst) != cancels;
        for f in reply.frames.iter_mut().filter(|f| f.tag == b'E') {
            if wire::sqlstate(f) == QUERY_CANCELED && !asked {
                *f = wire::error("ERROR", LOCK_NOT_AVAILABLE, "canceling statement due to lock timeout");
            }
        }
        Ok(reply)
    }

    /// Count the rows and bytes a write changed against DSQL's limits; pass its answer on.
    async fn count_write(&mut self, step: &Step, reply: Reply) -> std::io::Result<bool> {
        let rows: u64 = reply.tags().map(wire::rows_changed).sum();
        let limits = self.shared.config.limits.clone();
        let Some(txn) = self.txn.as_mut() else { return Ok(false) };
        txn.dml = true;
        txn.rows += rows;
        txn.bytes += step_bytes(step);
        txn.applied_after_defer |= !txn.deferred.is_empty();
        if txn.rows > limits.rows_per_transaction {
            let message = dialect::ROW_LIMIT_MESSAGE.to_string();
            self.failed = true;
            return self.abort_with("54000", &message).await;
        }
        if txn.bytes > limits.bytes_per_transaction {
            self.failed = true;
            return self.abort_with("54000", dialect::SIZE_LIMIT_MESSAGE).await;
        }
        self.send(&reply.frames);
        Ok(true)
    }

    /// A write outside a transaction is its own transaction: its conflict is its commit's.
    async fn autocommit(&mut self, step: Step) -> std::io::Result<bool> {
        let reply = self.attempt_write(&step, &["BEGIN"], "ROLLBACK").await?;
        let mut frames = reply.frames;
        let rows: u64 = frames.iter().filter(|f| f.tag == b'C').map(|f| wire::rows_changed(wire::tag_of(f))).sum();
        let error = frames.iter().position(|f| f.tag == b'E');
        if let Some(at) = error {
            let e = self.dsql_error(frames[at].clone());
            frames[at] = e;
            self.send(&frames[..=at]);
            self.rollback_backend().await?;
            return Ok(false);
        }
        if rows > self.shared.config.limits.rows_per_transaction {
            let message = dialect::ROW_LIMIT_MESSAGE.to_string();
            return self.abort_with("54000", &message).await;
        }
        let commit = self.backend.simple("COMMIT").await?;
        self.status = commit.status;
        match commit.error() {
            Some(e) => {
                let e = self.dsql_error(e.clone());
                self.send(&[e]);
                Ok(false)
            }
            None => {
                self.send(&frames);
                Ok(true)
            }
        }
    }

    /// The write would have waited: answer it at the snapshot, apply it at COMMIT if
    /// every transaction that holds its rows has rolled back by then.
    async fn defer(&mut self, step: Step, reply: Reply) -> std::io::Result<bool> {
        self.backend.simple("ROLLBACK TO SAVEPOINT dsql_occ").await?;
        self.status = b'T';
        let at = reply.frames.iter().position(|f| f.tag == b'E').unwrap_or(reply.frames.len());
        let described = reply.frames[..at].iter().any(|f| f.tag == b'T');
        let answer = match occ::rewrite(&step.prepared.sql) {
            Some(rw) => self.answer_at_snapshot(&step, &rw, described).await?,
            None => None,
        };
        let Some((rows, count, blockers)) = answer else {
            // Not a shape the front can answer without applying: conflict now.
            self.shared.counters.oc000.fetch_add(1, Ordering::Relaxed);
            self.failed = true;
            return self.abort_with("40001", dialect::OC000_MESSAGE).await;
        };
        self.send(&reply.frames[..at]);
        self.send(&unanswered_completions(&step, &reply));
        self.send(&rows);
        let deferred = Deferred {
            blockers,
            count,
            sql: step.prepared.sql.clone(),
            param_types: step.prepared.param_types.clone(),
            bind: step.bind.as_ref().map(|b| b.rest.clone()),
        };
        if let Some(txn) = self.txn.as_mut() {
            txn.dml = true;
            txn.rows += count;
            txn.deferred.push(deferred);
        }
        Ok(true)
    }

    /// The rows and count the write would have given, and the xids holding its rows.
    async fn answer_at_snapshot(
        &mut self,
        step: &Step,
        rw: &Rewrite,
        described: bool,
    ) -> std::io::Result<Option<(Vec<Frame>, u64, Option<Vec<u64>>)>> {
        let frames = match &step.bind {
            Some(bind) => {
                let Some(types) = self.param_types(step).await? else { return Ok(None) };
                let Some(text) = with_text_results(&bind.rest) else { return Ok(None) };
                let answer_rest = if rw.count_only { text.clone() } else { bind.rest.clone() };
                let mut frames = prepared_read("dsql_occ_a", &rw.answer, &types, answer_rest);
                if let Some(b) = &rw.blockers {
                    frames.extend(prepared_read("dsql_occ_b", b, &types, text));
                }
                frames.push(wire::sync());
                frames
            }
            None => std::iter::once(&rw.answer).chain(&rw.blockers).map(|q| wire::query(q)).collect(),
        };
        let ready = if step.bind.is_some() { 1 } else { frames.len() };
        let reply = self.backend.run(&frames, ready).await?;
        if reply.error().is_some() {
            return Ok(None);
        }
        let split = reply.frames.iter().position(|f| f.tag == b'C').map_or(reply.frames.len(), |i| i + 1);
        let (answer, rest) = reply.frames.split_at(split);
        let data: Vec<Frame> = answer
            .iter()
            .filter(|f| f.tag == b'D' || (f.tag == b'T' && !described && !step.extended()))
            .cloned()
            .collect();
        let rows = data.iter().filter(|f| f.tag == b'D').count() as u64;
        let count = if rw.count_only {
            data.first().and_then(first_column).and_then(|c| c.parse().ok()).unwrap_or(0)
        } else {
            rows
        };
        let blockers = rw.blockers.as_ref().map(|_| {
            rest.iter()
                .filter(|f| f.tag == b'D')
                .filter_map(first_column)
                .filter_map(|x| x.parse::<u64>().ok())
                .filter(|x| *x != 0)
                .collect::<Vec<_>>()
        });
        let blockers = blockers.filter(|b| !b.is_empty());
        let mut out = if rw.count_only { vec![] } else { data };
        out.push(wire::command_complete(&rw.tag(count)));
        Ok(Some((out, count, blockers)))
    }

    /// The parameter types of the step's statement, as the backend inferred them.
    async fn param_types(&mut self, step: &Step) -> std::io::Result<Option<Vec<i32>>> {
        let known = &step.prepared.param_types;
        if !known.is_empty() && !known.contains(&0) {
            return Ok(Some(known.clone()));
        }
        let mut body = vec![b'S'];
        body.extend_from_slice(step.prepared.name.as_bytes());
        body.push(0);
        let reply = self.backend.run(&[Frame::new(b'D', body), wire::sync()], 1).await?;
        let Some(desc) = reply.frames.iter().find(|f| f.tag == b't') else { return Ok(None) };
        let n = i16::from_be_bytes([desc.body[0], desc.body[1]]).max(0) as usize;
        let types = (0..n)
            .filter_map(|i| desc.body.get(2 + 4 * i..6 + 4 * i))
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        Ok(Some(types.collect()))
    }
}

/// PostgreSQL's lock_not_available: the lock timeout ran out.
const LOCK_NOT_AVAILABLE: &str = "55P03";
/// PostgreSQL's query_canceled.
const QUERY_CANCELED: &str = "57014";
/// Tries after the first before a lock that cannot be had counts as a conflict.
const LOCK_RETRIES: usize = 3;

/// The answer of a write tried again: what the first try answered before its error,
/// then the retry's answer without its answers to `again`, the messages it sent again
/// although the first try had answered them (a Bind, to make the portal anew).
fn retried(first: Reply, retry: Reply, again: &[Frame]) -> Reply {
    let at = first.frames.iter().position(|f| f.tag == b'E').unwrap_or(first.frames.len());
    let mut frames: Vec<Frame> = first.frames[..at].to_vec();
    let (_, skip) = answered(again, &retry.frames);
    frames.extend(retry.frames.into_iter().skip(skip));
    Reply { frames, status: retry.status }
}

/// A deferred write is answered as if it had run: the ParseComplete and BindComplete
/// of its Parse and Bind that the first try left unanswered (a table lock fails them
/// before the Execute that a row lock fails), before its rows and tag.
fn unanswered_completions(step: &Step, reply: &Reply) -> Vec<Frame> {
    if !step.extended() {
        return Vec::new();
    }
    let sent = step.frames();
    let (done, _) = answered(&sent, &reply.frames);
    let before_execute = sent[done..].iter().take_while(|f| f.tag != b'E');
    before_execute
        .filter_map(|f| match f.tag {
            b'P' => Some(Frame::new(b'1', Vec::new())),
            b'B' => Some(Frame::new(b'2', Vec::new())),
            _ => None,
        })
        .collect()
}

/// How many of the extended-protocol messages `sent` the reply `got` answered in full
/// before its error, and in how many of its frames: Parse by ParseComplete, Bind by
/// BindComplete, Describe by its descriptions (or NoData), Execute by its rows and
/// command tag, Close by CloseComplete. Counting stops at the first message not
/// answered.
fn answered(sent: &[Frame], got: &[Frame]) -> (usize, usize) {
    let end = got.iter().position(|f| f.tag == b'E').unwrap_or(got.len());
    let mut replies = got[..end].iter().map(|f| f.tag).peekable();
    let (mut done, mut used) = (0, 0);
    for f in sent {
        let complete = match f.tag {
            b'P' => replies.next_if_eq(&b'1').is_some(),
            b'B' => replies.next_if_eq(&b'2').is_some(),
            b'D' => {
                let _ = replies.next_if_eq(&b't');
                replies.next_if(|t| matches!(t, b'T' | b'n')).is_some()
            }
            b'E' => {
                while replies.next_if_eq(&b'D').is_some() {}
                replies.next_if(|t| matches!(t, b'C' | b'I' | b's')).is_some()
            }
            b'C' => replies.next_if_eq(&b'3').is_some(),
            _ => false,
        };
        if !complete {
            break;
        }
        done += 1;
        used = end - replies.len();
    }
    (done, used)
}

/// The bytes a step writes, as the transaction size limit counts them (approximately:
/// the statement's parameters, or its text).
fn step_bytes(step: &Step) -> u64 {
    match &step.bind {
        Some(b) => b.param_bytes() as u64,
        None => step.prepared.sql.len() as u64,
    }
}

/// Close, Parse, Bind, Execute and Close of a named statement through a portal of the
/// same name (both closed first: a name left over from an earlier failure must not make
/// the Parse or the Bind fail).
fn prepared_read(name: &str, sql: &str, types: &[i32], rest: Vec<u8>) -> Vec<Frame> {
    vec![
        close(b'S', name),
        close(b'P', name),
        Parse { name: name.into(), sql: sql.into(), param_types: types.to_vec() }.encode(),
        Bind { portal: name.into(), statement: name.into(), rest }.encode(),
        wire::execute(name),
        close(b'P', name),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8) -> Frame {
        Frame::new(tag, Vec::new())
    }

    fn tags(frames: &[Frame]) -> String {
        frames.iter().map(|f| f.tag as char).collect()
    }

    /// The finding: under a table lock the first try failed at its Bind, and the retry's
    /// BindComplete was dropped, so the client read a DataRow where it waited for it
    /// ("unexpected message from server").
    #[test]
    fn a_retry_answers_exactly_what_the_first_try_left_unanswered() {
        let frames = |t: &[u8]| t.iter().map(|t| frame(*t)).collect::<Vec<_>>();
        let error = |before: &[u8]| Reply { frames: frames(&[before, b"EZ"].concat()), status: b'E' };
        let ok = |t: &[u8]| Reply { frames: frames(t), status: b'T' };
        // Parse, Bind, Describe, Execute, Sync (node-postgres). A row lock fails the
        // Execute: the retry binds again, and its BindComplete and description are not
        // passed on twice.
        let sent = frames(b"PBDES");
        let first = error(b"12T");
        assert_eq!(answered(&sent, &first.frames), (3, 3));
        assert_eq!(tags(&retried(first, ok(b"2TDCZ"), &sent[1..3]).frames), "12TDCZ");
        // A table lock fails the Bind: the retry's BindComplete is kept.
        let first = error(b"1");
        assert_eq!(answered(&sent, &first.frames), (1, 1));
        assert_eq!(tags(&retried(first, ok(b"2TDCZ"), &sent[1..1]).frames), "12TDCZ", "BindComplete kept");
        // Or the Parse: everything again.
        assert_eq!(answered(&sent, &error(b"").frames), (0, 0));
        // A prepared statement's Bind, Execute, Sync (tokio-postgres): rows without
        // their tag do not finish the Execute.
        let sent = frames(b"BES");
        assert_eq!(answered(&sent, &error(b"2DD").frames), (1, 1));
        assert_eq!(tags(&retried(error(b"2"), ok(b"2DCZ"), &sent[0..1]).frames), "2DCZ");
        assert_eq!(tags(&retried(error(b""), ok(b"2DCZ"), &sent[0..0]).frames), "2DCZ", "the finding");
        // A retry that fails again at its Bind adds its error only.
        assert_eq!(tags(&retried(error(b"2"), error(b""), &sent[0..1]).frames), "2EZ");
    }
}
