//! PostgreSQL protocol version 3 messages, as the front reads and writes them: a tag
//! byte, a length that counts itself, a body. Only what the front inspects is decoded;
//! everything else passes through as bytes.

use std::collections::HashMap;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The startup packet's protocol codes.
const PROTOCOL_3: i32 = 196_608;
const SSL_REQUEST: i32 = 80_877_103;
const GSS_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;
/// No message the front relays is larger (PostgreSQL's own limit is 1 GB).
const MAX_MESSAGE: usize = 1 << 30;

/// One message: its tag and body (without the length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    pub body: Vec<u8>,
}

/// The first packet of a connection.
#[derive(Debug)]
pub enum Startup {
    Ssl,
    Gss,
    Cancel { pid: i32, secret: i32 },
    Params(HashMap<String, String>),
    Unsupported(i32),
}

pub async fn read_startup<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Startup> {
    let len = r.read_i32().await? as usize;
    if !(8..=10_000).contains(&len) {
        return Err(std::io::Error::other(format!("startup packet of {len} bytes")));
    }
    let code = r.read_i32().await?;
    let mut body = vec![0; len - 8];
    r.read_exact(&mut body).await?;
    Ok(match code {
        SSL_REQUEST => Startup::Ssl,
        GSS_REQUEST => Startup::Gss,
        CANCEL_REQUEST if body.len() >= 8 => Startup::Cancel {
            pid: i32::from_be_bytes([body[0], body[1], body[2], body[3]]),
            secret: i32::from_be_bytes([body[4], body[5], body[6], body[7]]),
        },
        PROTOCOL_3 => {
            let mut params = HashMap::new();
            let mut fields = body.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned());
            while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
                if k.is_empty() {
                    break;
                }
                params.insert(k, v);
            }
            Startup::Params(params)
        }
        other => Startup::Unsupported(other),
    })
}

/// A startup packet for the backend.
pub fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = PROTOCOL_3.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

pub fn cancel_packet(pid: i32, secret: i32) -> Vec<u8> {
    let mut out = 16i32.to_be_bytes().to_vec();
    out.extend(CANCEL_REQUEST.to_be_bytes());
    out.extend(pid.to_be_bytes());
    out.extend(secret.to_be_bytes());
    out
}

pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
    read_frame_max(r, MAX_MESSAGE).await
}

/// A message of at most `max` bytes (before a login: a password is small).
pub async fn read_frame_max<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Frame> {
    let tag = r.read_u8().await?;
    let len = r.read_i32().await?;
    if len < 4 || len as usize > max {
        return Err(std::io::Error::other(format!("message '{}' of length {len}", tag as char)));
    }
    let mut body = vec![0; len as usize - 4];
    r.read_exact(&mut body).await?;
    Ok(Frame { tag, body })
}

impl Frame {
    pub fn new(tag: u8, body: Vec<u8>) -> Frame {
        Frame { tag, body }
    }

    /// Append the message's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag);
        out.extend(((self.body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&self.body);
    }

    /// The first NUL-terminated string of the body (a Query's text, a tag ...).
    pub fn cstr(&self, at: usize) -> Option<(&str, usize)> {
        let rest = self.body.get(at..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        Some((std::str::from_utf8(&rest[..end]).ok()?, at + end + 1))
    }
}

pub async fn write_frames<W: AsyncWrite + Unpin>(w: &mut W, frames: &[Frame]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(frames.iter().map(|f| f.body.len() + 5).sum());
    for f in frames {
        f.encode(&mut out);
    }
    w.write_all(&out).await?;
    w.flush().await
}

fn cstring(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

pub fn query(sql: &str) -> Frame {
    let mut body = Vec::new();
    cstring(&mut body, sql);
    Frame::new(b'Q', body)
}

pub fn sync() -> Frame {
    Frame::new(b'S', Vec::new())
}

pub fn ready(status: u8) -> Frame {
    Frame::new(b'Z', vec![status])
}

pub fn command_complete(tag: &str) -> Frame {
    let mut body = Vec::new();
    cstring(&mut body, tag);
    Frame::new(b'C', body)
}

pub fn auth_request(code: i32) -> Frame {
    Frame::new(b'R', code.to_be_bytes().to_vec())
}

/// An ErrorResponse (or, with severity FATAL, the last word before closing).
pub fn error(severity: &str, sqlstate: &str, message: &str) -> Frame {
    let mut body = Vec::new();
    for (field, value) in [(b'S', severity), (b'V', severity), (b'C', sqlstate), (b'M', message)] {
        body.push(field);
        cstring(&mut body, value);
    }
    body.push(0);
    Frame::new(b'E', body)
}

/// An ErrorResponse with a HINT (DSQL says why a login was refused there).
pub fn error_with_hint(severity: &str, sqlstate: &str, message: &str, hint: &str) -> Frame {
    let mut frame = error(severity, sqlstate, message);
    if hint.is_empty() {
        return frame;
    }
    frame.body.pop();
    frame.body.push(b'H');
    cstring(&mut frame.body, hint);
    frame.body.push(0);
    frame
}

/// A one-column text result: RowDescription, one DataRow per value, CommandComplete.
pub fn text_result(column: &str, type_oid: i32, values: &[&str], tag: &str) -> Vec<Frame> {
    let mut desc = 1i16.to_be_bytes().to_vec();
    cstring(&mut desc, column);
    desc.extend(0i32.to_be_bytes()); // table oid
    desc.extend(0i16.to_be_bytes()); // column number
    desc.extend(type_oid.to_be_bytes());
    desc.extend((-1i16).to_be_bytes()); // type size
    desc.extend((-1i32).to_be_bytes()); // type modifier
    desc.extend(0i16.to_be_bytes()); // text format
    let mut frames = vec![Frame::new(b'T', desc)];
    for v in values {
        let mut row = 1i16.to_be_bytes().to_vec();
        row.extend((v.len() as i32).to_be_bytes());
        row.extend_from_slice(v.as_bytes());
        frames.push(Frame::new(b'D', row));
    }
    frames.push(command_complete(tag));
    frames
}

/// A one-row boolean result, in text (`t`/`f`) or binary (1/0) as the Bind asked.
pub fn bool_result(column: &str, value: bool, binary: bool, tag: &str) -> Vec<Frame> {
    let mut frames = text_result(column, 16, &[if value { "t" } else { "f" }], tag);
    if binary {
        let mut row = 1i16.to_be_bytes().to_vec();
        row.extend(1i32.to_be_bytes());
        row.push(u8::from(value));
        frames[1] = Frame::new(b'D', row);
    }
    frames
}

/// The fields of an ErrorResponse or NoticeResponse, by their codes.
pub fn error_fields(frame: &Frame) -> HashMap<u8, String> {
    let mut fields = HashMap::new();
    let mut at = 0;
    while let Some(&code) = frame.body.get(at) {
        if code == 0 {
            break;
        }
        match frame.cstr(at + 1) {
            Some((value, next)) => {
                fields.insert(code, value.to_string());
                at = next;
            }
            None => break,
        }
    }
    fields
}

pub fn sqlstate(frame: &Frame) -> String {
    error_fields(frame).remove(&b'C').unwrap_or_default()
}

/// A Parse message: statement name, query text, parameter type OIDs.
#[derive(Debug, Clone)]
pub struct Parse {
    pub name: String,
    pub sql: String,
    pub param_types: Vec<i32>,
}

impl Parse {
    pub fn decode(frame: &Frame) -> Option<Parse> {
        let (name, at) = frame.cstr(0)?;
        let (sql, at) = frame.cstr(at)?;
        let n = i16::from_be_bytes([*frame.body.get(at)?, *frame.body.get(at + 1)?]).max(0) as usize;
        let types = frame.body.get(at + 2..at + 2 + 4 * n)?;
        let param_types = types.chunks(4).map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
        Some(Parse { name: name.to_string(), sql: sql.to_string(), param_types })
    }

    pub fn encode(&self) -> Frame {
        let mut body = Vec::new();
        cstring(&mut body, &self.name);
        cstring(&mut body, &self.sql);
        body.extend((self.param_types.len() as i16).to_be_bytes());
        for t in &self.param_types {
            body.extend(t.to_be_bytes());
        }
        Frame::new(b'P', body)
    }
}

/// A Bind message's portal and statement names; the rest is kept as bytes.
#[derive(Debug, Clone)]
pub struct Bind {
    pub portal: String,
    pub statement: String,
    /// Everything after the two names: formats, parameters, result formats.
    pub rest: Vec<u8>,
}

impl Bind {
    pub fn decode(frame: &Frame) -> Option<Bind> {
        let (portal, at) = frame.cstr(0)?;
        let (statement, at) = frame.cstr(at)?;
        Some(Bind { portal: portal.to_string(), statement: statement.to_string(), rest: frame.body[at..].to_vec() })
    }

    pub fn encode(&self) -> Frame {
        let mut body = Vec::new();
        cstring(&mut body, &self.portal);
        cstring(&mut body, &self.statement);
        body.extend_from_slice(&self.rest);
        Frame::new(b'B', body)
    }

    /// The total size of the parameters' values.
    pub fn param_bytes(&self) -> usize {
        self.rest.len()
    }
}

/// Execute: a portal's name (the row limit is kept at 0: all rows).
pub fn execute(portal: &str) -> Frame {
    let mut body = Vec::new();
    cstring(&mut body, portal);
    body.extend(0i32.to_be_bytes());
    Frame::new(b'E', body)
}

/// The portal an Execute runs, or the target of a Describe/Close ('S' or 'P', name).
pub fn target(frame: &Frame) -> Option<(u8, String)> {
    match frame.tag {
        b'E' => Some((b'P', frame.cstr(0)?.0.to_string())),
        b'D' | b'C' => Some((*frame.body.first()?, frame.cstr(1)?.0.to_string())),
        _ => None,
    }
}

/// Rows a CommandComplete tag reports as changed (`INSERT 0 n`, `UPDATE n` ...).
pub fn rows_changed(tag: &str) -> u64 {
    let mut words = tag.split(' ');
    match words.next() {
        Some("INSERT" | "UPDATE" | "DELETE" | "MERGE") => {
            tag.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
        }
        _ => 0,
    }
}

/// The text of a CommandComplete.
pub fn tag_of(frame: &Frame) -> &str {
    frame.cstr(0).map(|(s, _)| s).unwrap_or("")
}

/// Where a Bind's result format codes start (after the parameters).
fn results_at(rest: &[u8]) -> Option<usize> {
    let i16_at = |at: usize| rest.get(at..at + 2).map(|b| i16::from_be_bytes([b[0], b[1]]).max(0) as usize);
    let formats = i16_at(0)?;
    let mut at = 2 + 2 * formats;
    let params = i16_at(at)?;
    at += 2;
    for _ in 0..params {
        let len = i32::from_be_bytes(rest.get(at..at + 4)?.try_into().ok()?);
        at += 4 + len.max(0) as usize;
    }
    Some(at)
}

/// Whether a Bind asks for its first result column in binary.
pub fn binary_results(rest: &[u8]) -> bool {
    let Some(at) = results_at(rest) else { return false };
    let n = rest.get(at..at + 2).map_or(0, |b| i16::from_be_bytes([b[0], b[1]]));
    n > 0 && rest.get(at + 2..at + 4) == Some(&[0, 1])
}

/// A Bind's bytes after the names, with every result column asked for as text.
pub fn with_text_results(rest: &[u8]) -> Option<Vec<u8>> {
    let at = results_at(rest)?;
    let mut out = rest.get(..at)?.to_vec();
    out.extend(0i16.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_through_bytes() {
        let parse = Parse { name: "s1".into(), sql: "SELECT $1".into(), param_types: vec![23] };
        let bind = Bind { portal: "".into(), statement: "s1".into(), rest: vec![0, 0, 0, 1, 0, 0, 0, 1, b'7', 0, 0] };
        let frames = vec![parse.encode(), bind.encode(), execute(""), sync()];
        let mut bytes = Vec::new();
        for f in &frames {
            f.encode(&mut bytes);
        }
        let mut reader = &bytes[..];
        let mut back = Vec::new();
        for _ in 0..4 {
            back.push(read_frame(&mut reader).await.unwrap());
        }
        assert_eq!(back, frames);
        let p = Parse::decode(&back[0]).unwrap();
        assert_eq!((p.name.as_str(), p.sql.as_str(), p.param_types), ("s1", "SELECT $1", vec![23]));
        assert_eq!(Bind::decode(&back[1]).unwrap().statement, "s1");
        assert_eq!(target(&back[2]), Some((b'P', String::new())));
    }

    #[tokio::test]
    async fn startup_parameters_are_read() {
        let packet = startup_packet(&[("user", "admin"), ("database", "postgres")]);
        let Startup::Params(p) = read_startup(&mut &packet[..]).await.unwrap() else { panic!("not params") };
        assert_eq!(p["user"], "admin");
        assert_eq!(p["database"], "postgres");
        let cancel = cancel_packet(42, 7);
        assert!(matches!(read_startup(&mut &cancel[..]).await.unwrap(), Startup::Cancel { pid: 42, secret: 7 }));
    }

    #[test]
    fn errors_carry_their_fields_and_tags_their_counts() {
        let e = error("ERROR", "40001", "conflict (OC000)");
        assert_eq!(sqlstate(&e), "40001");
        assert_eq!(error_fields(&e)[&b'M'], "conflict (OC000)");
        assert_eq!(rows_changed("INSERT 0 12"), 12);
        assert_eq!(rows_changed("UPDATE 3"), 3);
        assert_eq!(rows_changed("SELECT 3"), 0);
    }

    #[test]
    fn result_formats_are_replaced_by_text() {
        // one format (binary), two parameters (int4 7, NULL), one result format (binary)
        let mut rest = vec![0, 1, 0, 1, 0, 2];
        rest.extend(4i32.to_be_bytes());
        rest.extend(7i32.to_be_bytes());
        rest.extend((-1i32).to_be_bytes());
        let params_end = rest.len();
        rest.extend([0, 1, 0, 1]);
        let text = with_text_results(&rest).unwrap();
        assert_eq!(&text[..params_end], &rest[..params_end]);
        assert_eq!(&text[params_end..], &[0, 0]);
        assert!(with_text_results(&rest[..5]).is_none());
        assert!(binary_results(&rest));
        assert!(!binary_results(&text));
    }
}
