//! A payload template compiled once into constant parts and holes: a JSON string that is
//! exactly `"{{name}}"` becomes the generator's typed value, `{{name}}` inside a longer
//! string is substituted as text, and `{{row.column}}` reads a field of a row
//! generator's row. Filling it clones the constants and fills the holes.

use serde_json::{Map, Value};

use super::WorkloadError;

/// One hole: a generator's value, a row generator's whole row, or a column of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Hole {
    Value(usize),
    Row(usize),
    Field(usize, usize),
}

/// Part of a string with holes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Piece {
    Text(String),
    Hole(Hole),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Const(Value),
    Hole(Hole),
    Text(Vec<Piece>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// Where a template's names point: a generator's index, and its columns if it is a row
/// generator.
pub(super) trait Names {
    fn find(&self, name: &str) -> Option<(usize, Option<&[String]>)>;
}

/// What the holes are filled with: each generator's value for this call, and for a
/// row generator its row.
pub(super) trait Drawn {
    fn value(&self, generator: usize) -> &Value;
    fn row(&self, generator: usize) -> Value;
    fn field(&self, generator: usize, column: usize) -> &Value;
}

impl Node {
    /// Compile `template`, every name resolved through `names`.
    pub(super) fn compile(template: &Value, names: &dyn Names) -> Result<Node, WorkloadError> {
        let node = match template {
            Value::String(s) => string(s, names)?,
            Value::Array(items) => {
                Node::Array(items.iter().map(|v| Node::compile(v, names)).collect::<Result<_, _>>()?)
            }
            Value::Object(m) => Node::Object(
                m.iter().map(|(k, v)| Ok((k.clone(), Node::compile(v, names)?))).collect::<Result<_, _>>()?,
            ),
            other => Node::Const(other.clone()),
        };
        Ok(match node {
            Node::Array(items) if items.iter().all(|n| matches!(n, Node::Const(_))) => {
                Node::Const(Value::Array(items.into_iter().map(Node::into_const).collect()))
            }
            Node::Object(fields) if fields.iter().all(|(_, n)| matches!(n, Node::Const(_))) => {
                Node::Const(Value::Object(fields.into_iter().map(|(k, n)| (k, n.into_const())).collect()))
            }
            node => node,
        })
    }

    fn into_const(self) -> Value {
        match self {
            Node::Const(v) => v,
            _ => unreachable!("only called on constants"),
        }
    }

    /// The generators this template uses.
    pub(super) fn holes(&self, out: &mut Vec<usize>) {
        let mut hole = |h: &Hole| match h {
            Hole::Value(g) | Hole::Row(g) | Hole::Field(g, _) => out.push(*g),
        };
        match self {
            Node::Const(_) => {}
            Node::Hole(h) => hole(h),
            Node::Text(pieces) => pieces.iter().for_each(|p| {
                if let Piece::Hole(h) = p {
                    hole(h)
                }
            }),
            Node::Array(items) => items.iter().for_each(|n| n.holes(out)),
            Node::Object(fields) => fields.iter().for_each(|(_, n)| n.holes(out)),
        }
    }

    /// This call's payload.
    pub(super) fn fill<D: Drawn>(&self, d: &D) -> Value {
        match self {
            Node::Const(v) => v.clone(),
            Node::Hole(Hole::Value(g)) => d.value(*g).clone(),
            Node::Hole(Hole::Row(g)) => d.row(*g),
            Node::Hole(Hole::Field(g, c)) => d.field(*g, *c).clone(),
            Node::Text(pieces) => {
                let mut s = String::new();
                for p in pieces {
                    match p {
                        Piece::Text(t) => s.push_str(t),
                        Piece::Hole(Hole::Value(g)) => push_text(&mut s, d.value(*g)),
                        Piece::Hole(Hole::Row(g)) => push_text(&mut s, &d.row(*g)),
                        Piece::Hole(Hole::Field(g, c)) => push_text(&mut s, d.field(*g, *c)),
                    }
                }
                Value::String(s)
            }
            Node::Array(items) => Value::Array(items.iter().map(|n| n.fill(d)).collect()),
            Node::Object(fields) => {
                let mut m = Map::new();
                for (k, n) in fields {
                    m.insert(k.clone(), n.fill(d));
                }
                Value::Object(m)
            }
        }
    }
}

/// A value as text: strings as they are, anything else as JSON.
fn push_text(s: &mut String, v: &Value) {
    match v {
        Value::String(t) => s.push_str(t),
        other => s.push_str(&other.to_string()),
    }
}

/// A template string: a constant, one typed hole, or text with holes.
fn string(s: &str, names: &dyn Names) -> Result<Node, WorkloadError> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        let close = rest[open..].find("}}").ok_or_else(|| WorkloadError::Unclosed { text: s.to_string() })?;
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        pieces.push(Piece::Hole(hole(rest[open + 2..open + close].trim(), names)?));
        rest = &rest[open + close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(match pieces.as_slice() {
        [] => Node::Const(Value::String(String::new())),
        [Piece::Text(t)] => Node::Const(Value::String(t.clone())),
        [Piece::Hole(h)] => Node::Hole(*h),
        _ => Node::Text(pieces),
    })
}

/// `name` or `row.column`, resolved.
fn hole(expr: &str, names: &dyn Names) -> Result<Hole, WorkloadError> {
    let (name, column) = match expr.split_once('.') {
        Some((n, c)) => (n, Some(c)),
        None => (expr, None),
    };
    let unknown = || WorkloadError::UnknownGenerator { name: name.to_string() };
    let (g, columns) = names.find(name).ok_or_else(unknown)?;
    match (column, columns) {
        (None, None) => Ok(Hole::Value(g)),
        (None, Some(_)) => Ok(Hole::Row(g)),
        (Some(c), Some(cols)) => match cols.iter().position(|x| x == c) {
            Some(i) => Ok(Hole::Field(g, i)),
            None => Err(WorkloadError::UnknownColumn { name: name.into(), column: c.into(), columns: cols.join(", ") }),
        },
        (Some(c), None) => Err(WorkloadError::NotARow { name: name.into(), column: c.into() }),
    }
}
