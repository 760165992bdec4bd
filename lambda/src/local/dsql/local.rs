//! Statements the front answers itself: `CREATE INDEX ASYNC`, `CALL sys.wait_for_job`,
//! `AWS IAM GRANT` and `REVOKE` (see `sys` for what they do to the database).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncWrite};
use tokio_postgres::NoTls;

use super::dialect::Statement;
use super::session::{Session, Step};
use super::sys;
use super::wire::{self, Frame};

/// `CALL sys.wait_for_job` gives up after this long.
const WAIT_FOR_JOB: Duration = Duration::from_secs(600);
const TEXT: i32 = 25;
const BOOL: i32 = 16;

/// The columns a local statement returns, if any.
fn description(kind: &Statement) -> Option<Frame> {
    let (column, oid) = match kind {
        Statement::AsyncIndex { .. } => ("job_id", TEXT),
        Statement::WaitForJob { .. } => ("wait_for_job", BOOL),
        _ => return None,
    };
    wire::text_result(column, oid, &[], "").into_iter().next()
}

fn no_data() -> Frame {
    Frame::new(b'n', Vec::new())
}

fn no_parameters() -> Frame {
    Frame::new(b't', 0i16.to_be_bytes().to_vec())
}

/// Prepare/describe messages of a local statement, answered without the backend.
fn answer_without_execute(group: &[Frame]) -> Vec<Frame> {
    let kind = group
        .iter()
        .filter_map(wire::Parse::decode)
        .map(|p| super::dialect::classify(&p.sql))
        .next()
        .unwrap_or(Statement::Empty);
    let mut out = Vec::new();
    for f in group {
        match f.tag {
            b'P' => out.push(Frame::new(b'1', Vec::new())),
            b'D' => {
                if wire::target(f).is_some_and(|(k, _)| k == b'S') {
                    out.push(no_parameters());
                }
                out.push(description(&kind).unwrap_or_else(no_data));
            }
            b'C' => out.push(Frame::new(b'3', Vec::new())),
            _ => {}
        }
    }
    out
}

impl<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Messages without an Execute that prepare or describe a local statement.
    pub(super) fn answer_prepare(&mut self, group: &[Frame]) {
        let frames = answer_without_execute(group);
        self.send(&frames);
    }

    /// The client's messages answered as PostgreSQL would, with `result` at the Execute
    /// (its RowDescription, if any, going to a Describe).
    pub(super) fn answer(&self, step: &Step, result: Vec<Frame>) -> Vec<Frame> {
        let Some(group) = &step.group else { return result };
        let (desc, rest): (Option<Frame>, Vec<Frame>) = match result.first() {
            Some(f) if f.tag == b'T' => (Some(f.clone()), result[1..].to_vec()),
            _ => (None, result),
        };
        let mut out = Vec::new();
        for f in group {
            match f.tag {
                b'P' => out.push(Frame::new(b'1', Vec::new())),
                b'B' => out.push(Frame::new(b'2', Vec::new())),
                b'D' => {
                    if wire::target(f).is_some_and(|(k, _)| k == b'S') {
                        out.push(no_parameters());
                    }
                    out.push(desc.clone().unwrap_or_else(no_data));
                }
                b'E' => out.extend(rest.iter().cloned()),
                b'C' => out.push(Frame::new(b'3', Vec::new())),
                _ => {}
            }
        }
        out
    }

    /// Run a statement the front answers itself.
    pub(super) async fn run_local(&mut self, step: Step) -> std::io::Result<bool> {
        let result = match step.prepared.kind.clone() {
            Statement::AsyncIndex { unique, if_not_exists, name, table, columns, rest } => {
                // CONCURRENTLY: the build never blocks writes to its table, as DSQL's
                // asynchronous builds do not.
                let create = format!(
                    "CREATE {}INDEX CONCURRENTLY {}{name} ON {table} ({}) {rest}",
                    if unique { "UNIQUE " } else { "" },
                    if if_not_exists { "IF NOT EXISTS " } else { "" },
                    columns.join(", ")
                );
                self.index_job(&name, create).await
            }
            Statement::IamGrant { role, arn } => self.iam(&role, &arn, true).await,
            Statement::IamRevoke { role, arn } => self.iam(&role, &arn, false).await,
            Statement::WaitForJob { job_id } => self.wait_for_job(&step, &job_id).await,
            _ => Ok(vec![wire::command_complete("")]),
        };
        let ok = result.is_ok();
        let frames = result.unwrap_or_else(|e| vec![e]);
        let answered = self.answer(&step, frames);
        self.send(&answered);
        Ok(ok)
    }

    async fn index_job(&mut self, name: &str, create: String) -> Result<Vec<Frame>, Frame> {
        if let Some(txn) = self.txn.as_mut() {
            txn.ddl = true;
        }
        let url = self.shared.backend.url();
        let connect = async move {
            let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
            tokio::spawn(conn);
            Ok(client)
        };
        let version = self.shared.schema_version.clone();
        let on_change = move || {
            version.fetch_add(1, Ordering::SeqCst);
        };
        let object = if name.contains('.') { name.to_string() } else { format!("public.{name}") };
        let admin = self.shared.admin().await.map_err(|e| backing(&e))?;
        match sys::start_index_job(&admin, &object, create, connect, on_change).await {
            Ok(id) => Ok(wire::text_result("job_id", TEXT, &[&id], "CREATE INDEX")),
            Err(e) => Err(sys_error(&e)),
        }
    }

    /// `CALL sys.wait_for_job(id)`: `t` or `f`, in the format the Bind asked for.
    async fn wait_for_job(&self, step: &Step, job_id: &str) -> Result<Vec<Frame>, Frame> {
        let admin = self.shared.admin().await.map_err(|e| backing(&e))?;
        let done = sys::wait_for_job(&admin, job_id, WAIT_FOR_JOB).await.map_err(|e| sys_error(&e))?;
        let binary = step.bind.as_ref().is_some_and(|b| wire::binary_results(&b.rest));
        Ok(wire::bool_result("wait_for_job", done, binary, "CALL"))
    }

    /// AWS IAM GRANT/REVOKE: only admin may map roles.
    async fn iam(&mut self, role: &str, arn: &str, grant: bool) -> Result<Vec<Frame>, Frame> {
        if self.user != "admin" {
            return Err(wire::error(
                "ERROR",
                "42501",
                "permission denied: only admin can run AWS IAM GRANT and REVOKE",
            ));
        }
        let admin = self.shared.admin().await.map_err(|e| backing(&e))?;
        let (result, tag) = if grant {
            (sys::grant(&admin, role, arn).await, "AWS IAM GRANT")
        } else {
            (sys::revoke(&admin, role, arn).await, "AWS IAM REVOKE")
        };
        result.map(|()| vec![wire::command_complete(tag)]).map_err(|e| sys_error(&e))
    }
}

fn backing(e: &tokio_postgres::Error) -> Frame {
    wire::error("ERROR", "08006", &format!("the backing database: {e}"))
}

fn sys_error(e: &sys::SysError) -> Frame {
    wire::error("ERROR", e.sqlstate(), &e.to_string())
}
