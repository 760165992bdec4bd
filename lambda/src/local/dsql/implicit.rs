//! Several statements in one simple Query, or several Executes before one Sync, with no
//! BEGIN: PostgreSQL runs them as one transaction, and so does the front (all of them
//! commit, or none), with DSQL's rules for that transaction.

use std::sync::atomic::Ordering;

use tokio::io::{AsyncBufRead, AsyncWrite};

use super::backend::Backend;
use super::dialect::Statement;
use super::session::{Prepared, Session, Step, Txn};
use super::wire::{self, Frame, Parse};

impl<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Whether statements of these kinds, sent together (more than one: the caller
    /// checks), make an implicit transaction: outside a transaction, one of them a
    /// write, none beginning or ending a transaction itself.
    pub(super) fn implicit(&self, kinds: &[Statement]) -> bool {
        let writes = kinds.iter().any(|k| matches!(k, Statement::Write | Statement::ReadForUpdate | Statement::Ddl));
        let control =
            kinds.iter().any(|k| matches!(k, Statement::Begin { .. } | Statement::Commit | Statement::Rollback));
        self.txn.is_none() && !self.failed && writes && !control
    }

    /// The kind of the statement a group executes (its Parse, or the prepared one it binds).
    pub(super) fn kind_of(&self, group: &[Frame]) -> Option<Statement> {
        if let Some(parse) = group.iter().rev().filter(|f| f.tag == b'P').find_map(Parse::decode) {
            return Some(super::dialect::classify(&parse.sql));
        }
        let bind = group.iter().rev().filter(|f| f.tag == b'B').find_map(wire::Bind::decode)?;
        self.statements.get(&bind.statement).map(|p| p.kind.clone())
    }

    /// Open the implicit transaction (the client is not told: it sent no BEGIN).
    pub(super) async fn begin_implicit(&mut self) -> std::io::Result<()> {
        let mut frames = Backend::internal("BEGIN");
        frames.extend(Backend::internal("SELECT 1"));
        let replies = self.backend.run_each(&frames, 2).await?;
        self.status = replies[1].status;
        self.txn = Some(Txn::new(self.shared.schema_version.load(Ordering::SeqCst)));
        Ok(())
    }

    /// Commit the implicit transaction if every statement succeeded (an error at COMMIT
    /// is the client's to see), else roll it back; either way it is over.
    /// Commit (or roll back) the implicit transaction; false if its COMMIT failed.
    pub(super) async fn end_implicit(&mut self, ok: bool) -> std::io::Result<bool> {
        let mut committed = true;
        if self.txn.is_some() && ok {
            let commit =
                Prepared { name: String::new(), sql: "COMMIT".into(), kind: Statement::Commit, param_types: vec![] };
            self.quiet = true;
            let done = self.commit(Step { prepared: commit, group: None, bind: None }).await;
            self.quiet = false;
            committed = done?;
        } else if self.txn.take().is_some() {
            self.rollback_backend().await?;
        }
        self.txn = None;
        self.failed = false;
        Ok(committed)
    }
}
