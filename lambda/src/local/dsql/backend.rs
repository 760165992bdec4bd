//! A session of the backing PostgreSQL, as the client's role, at REPEATABLE READ with
//! a lock timeout so that no statement waits on another transaction's row.

use std::collections::HashMap;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};

use super::shared::BackendAddr;
use super::wire::{self, Bind, Frame, Parse};

/// How long a statement may wait for a row lock before the front treats it as a
/// conflict (PostgreSQL's lock_timeout; 1 ms is its smallest).
const LOCK_TIMEOUT: &str = "1ms";

/// The startup parameters passed on from the client.
const PASSED_ON: &[&str] =
    &["application_name", "client_encoding", "DateStyle", "TimeZone", "extra_float_digits", "options"];

/// The front's own statements, prepared once per backend connection: they run through
/// the extended protocol and a named portal, so that the client's unnamed statement and
/// portal (which a simple Query would drop) stay as the client left them.
const INTERNAL: &[&str] = &[
    "SAVEPOINT dsql_occ",
    "RELEASE SAVEPOINT dsql_occ",
    "ROLLBACK TO SAVEPOINT dsql_occ",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SELECT 1",
    "SET lock_timeout = 0",
    "SET LOCAL lock_timeout = 0",
    "RESET lock_timeout",
];

type ReadHalf = Box<dyn AsyncRead + Send + Sync + Unpin>;
type WriteHalf = Box<dyn AsyncWrite + Send + Sync + Unpin>;

pub struct Backend {
    read: BufReader<ReadHalf>,
    write: WriteHalf,
}

/// A connection to the PostgreSQL at `to`: its Unix socket when known and it answers,
/// else TCP on 127.0.0.1 (the socket's file may be gone while the server restarts).
pub async fn open(to: &BackendAddr) -> std::io::Result<(ReadHalf, WriteHalf)> {
    if let Some(dir) = &to.socket_dir {
        if let Ok(stream) = UnixStream::connect(dir.join(format!(".s.PGSQL.{}", to.port))).await {
            let (read, write) = stream.into_split();
            return Ok((Box::new(read), Box::new(write)));
        }
    }
    let stream = TcpStream::connect(("127.0.0.1", to.port)).await?;
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    Ok((Box::new(read), Box::new(write)))
}

/// What a backend said up to one or more ReadyForQuery.
#[derive(Debug, Default)]
pub struct Reply {
    /// The frames kept (all of them, or only CommandComplete and errors when relaying).
    pub frames: Vec<Frame>,
    pub status: u8,
}

impl Reply {
    pub fn error(&self) -> Option<&Frame> {
        self.frames.iter().find(|f| f.tag == b'E')
    }

    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.frames.iter().filter(|f| f.tag == b'C').map(wire::tag_of)
    }

    /// The first column of every DataRow, as text.
    pub fn column(&self) -> Vec<String> {
        self.frames.iter().filter(|f| f.tag == b'D').filter_map(first_column).collect()
    }
}

/// Close a statement (`b'S'`) or portal (`b'P'`).
pub fn close(kind: u8, name: &str) -> Frame {
    let mut body = vec![kind];
    body.extend_from_slice(name.as_bytes());
    body.push(0);
    Frame::new(b'C', body)
}

/// A DataRow's first value as text (None for NULL).
pub fn first_column(row: &Frame) -> Option<String> {
    let len = i32::from_be_bytes(row.body.get(2..6)?.try_into().ok()?);
    if len < 0 {
        return None;
    }
    Some(String::from_utf8_lossy(row.body.get(6..6 + len as usize)?).into_owned())
}

impl Backend {
    /// Log in as `user` (trust authentication); the greeting is what the client gets
    /// (AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery), or the error.
    pub async fn connect(
        to: &BackendAddr,
        user: &str,
        params: &HashMap<String, String>,
    ) -> Result<(Backend, Vec<Frame>), Vec<Frame>> {
        let fail = |e: std::io::Error| vec![wire::error("FATAL", "08006", &format!("backing database: {e}"))];
        let (read, mut write) = open(to).await.map_err(fail)?;
        let mut startup = vec![
            ("user", user),
            ("database", "postgres"),
            ("default_transaction_isolation", "repeatable read"),
            ("lock_timeout", LOCK_TIMEOUT),
        ];
        for key in PASSED_ON {
            if let Some(v) = params.get(*key) {
                startup.push((key, v));
            }
        }
        write.write_all(&wire::startup_packet(&startup)).await.map_err(fail)?;
        let mut backend = Backend { read: BufReader::new(read), write };
        let mut greeting = Vec::new();
        loop {
            let frame = wire::read_frame(&mut backend.read).await.map_err(fail)?;
            let end = frame.tag == b'Z' || frame.tag == b'E';
            let failed = frame.tag == b'E';
            greeting.push(frame);
            if failed {
                return Err(greeting);
            }
            if end {
                break;
            }
        }
        backend.prepare_internal().await.map_err(fail)?;
        Ok((backend, greeting))
    }

    async fn prepare_internal(&mut self) -> std::io::Result<()> {
        let mut frames: Vec<Frame> = INTERNAL
            .iter()
            .enumerate()
            .map(|(i, sql)| Parse { name: format!("dsql_i{i}"), sql: sql.to_string(), param_types: vec![] }.encode())
            .collect();
        frames.push(wire::sync());
        match self.run(&frames, 1).await?.error() {
            Some(e) => {
                Err(std::io::Error::other(format!("preparing the front's statements: {:?}", wire::error_fields(e))))
            }
            None => Ok(()),
        }
    }

    /// The frames that run `sql` (one of the front's own statements, or any other
    /// through a statement of the moment), ending with Sync: one ReadyForQuery.
    pub fn internal(sql: &str) -> Vec<Frame> {
        let mut frames = Vec::new();
        let name = match INTERNAL.iter().position(|s| *s == sql) {
            Some(i) => format!("dsql_i{i}"),
            None => {
                frames.push(close(b'S', "dsql_t"));
                frames.push(Parse { name: "dsql_t".into(), sql: sql.into(), param_types: vec![] }.encode());
                "dsql_t".to_string()
            }
        };
        // No parameter formats, no parameters, no result formats (all text).
        frames.push(Bind { portal: "dsql_p".into(), statement: name, rest: vec![0, 0, 0, 0, 0, 0] }.encode());
        frames.push(wire::execute("dsql_p"));
        frames.push(close(b'P', "dsql_p"));
        frames.push(wire::sync());
        frames
    }

    pub async fn send(&mut self, frames: &[Frame]) -> std::io::Result<()> {
        wire::write_frames(&mut self.write, frames).await
    }

    pub async fn read(&mut self) -> std::io::Result<Frame> {
        wire::read_frame(&mut self.read).await
    }

    /// Send `frames` and read up to the `ready`-th ReadyForQuery, keeping every frame.
    pub async fn run(&mut self, frames: &[Frame], ready: usize) -> std::io::Result<Reply> {
        let replies = self.run_each(frames, ready).await?;
        let status = replies.last().map_or(b'I', |r| r.status);
        Ok(Reply { frames: replies.into_iter().flat_map(|r| r.frames).collect(), status })
    }

    /// One of the front's statements; its frames and status.
    pub async fn simple(&mut self, sql: &str) -> std::io::Result<Reply> {
        self.run(&Backend::internal(sql), 1).await
    }

    /// Send `frames` and read `ready` ReadyForQuery, each answer apart.
    pub async fn run_each(&mut self, frames: &[Frame], ready: usize) -> std::io::Result<Vec<Reply>> {
        self.send(frames).await?;
        let mut replies = vec![Reply::default()];
        while replies.len() <= ready {
            let frame = self.read().await?;
            let last = replies.len() - 1;
            if frame.tag == b'Z' {
                replies[last].status = frame.body.first().copied().unwrap_or(b'I');
                replies.push(Reply::default());
            } else {
                replies[last].frames.push(frame);
            }
        }
        replies.pop();
        Ok(replies)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, UnixListener};

    use super::*;

    /// A byte written through `open`'s connection arrives at `accepted`.
    async fn carries(write: &mut WriteHalf, accepted: &mut (impl AsyncRead + Unpin)) {
        write.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        accepted.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"x");
    }

    #[tokio::test]
    async fn open_prefers_the_unix_socket_of_the_port() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let unix = UnixListener::bind(dir.path().join(format!(".s.PGSQL.{port}"))).unwrap();
        let to = BackendAddr { port, socket_dir: Some(dir.path().to_path_buf()) };
        let (_read, mut write) = open(&to).await.expect("connects");
        let (mut accepted, _) = unix.accept().await.expect("the socket took the connection");
        carries(&mut write, &mut accepted).await;
    }

    #[tokio::test]
    async fn open_falls_back_to_tcp_when_the_socket_is_missing() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let to = BackendAddr { port, socket_dir: Some(dir.path().to_path_buf()) };
        let (_read, mut write) = open(&to).await.expect("connects over TCP");
        let (mut accepted, _) = tcp.accept().await.expect("TCP took the connection");
        carries(&mut write, &mut accepted).await;
    }

    #[test]
    fn the_url_of_a_socket_directory_names_it_as_host() {
        let dir = std::path::PathBuf::from("/tmp/harness-pg-a b%c");
        let url = BackendAddr { port: 5999, socket_dir: Some(dir.clone()) }.url();
        let config: tokio_postgres::Config = url.parse().expect("a valid URL");
        assert_eq!(config.get_hosts(), &[tokio_postgres::config::Host::Unix(dir)]);
        assert_eq!(config.get_ports(), &[5999]);
        assert_eq!(config.get_user(), Some("postgres"));
        let tcp: tokio_postgres::Config = BackendAddr::tcp(5999).url().parse().unwrap();
        assert_eq!(tcp.get_hosts(), &[tokio_postgres::config::Host::Tcp("127.0.0.1".into())]);
    }
}
