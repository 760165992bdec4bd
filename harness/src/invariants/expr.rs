//! The small integer expressions of an invariant's bounds: integer literals, names,
//! `+ - *`, unary minus and parentheses, e.g. `before + successes + unknown` or
//! `accounts * initial_balance`. Parsed once (errors carry the byte offset of the
//! offending character), evaluated with checked arithmetic against named values.

use serde::{Deserialize, Serialize};

/// A parsed expression; it serializes as the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Expr {
    text: String,
    tree: Node,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Int(i64),
    Name(String),
    Neg(Box<Node>),
    Bin(char, Box<Node>, Box<Node>),
}

/// Why an expression does not parse, and at which byte of its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

/// Why an expression has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("{0} has no value here")]
    Unknown(String),
    #[error("the arithmetic overflows 64-bit integers")]
    Overflow,
}

impl Expr {
    /// Parse `text`.
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        let tokens = tokens(text)?;
        let mut p = Parser { tokens: &tokens, at: 0, end: text.len() };
        let tree = p.sum()?;
        if let Some((offset, t)) = p.tokens.get(p.at) {
            return Err(ParseError { offset: *offset, message: format!("unexpected {t} after a complete expression") });
        }
        Ok(Expr { text: text.trim().to_string(), tree })
    }

    /// An integer literal.
    pub fn int(v: i64) -> Expr {
        Expr { text: v.to_string(), tree: Node::Int(v) }
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it is a bare integer literal (nothing to explain when shown).
    pub fn is_literal(&self) -> bool {
        matches!(self.tree, Node::Int(_))
    }

    /// The names it uses, each once, in order of first use.
    pub fn names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        collect(&self.tree, &mut out);
        out
    }

    /// Its value, with `lookup` giving each name's.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<i64>) -> Result<i64, EvalError> {
        eval(&self.tree, lookup)
    }
}

fn collect<'a>(n: &'a Node, out: &mut Vec<&'a str>) {
    match n {
        Node::Int(_) => {}
        Node::Name(name) if out.contains(&name.as_str()) => {}
        Node::Name(name) => out.push(name),
        Node::Neg(a) => collect(a, out),
        Node::Bin(_, a, b) => {
            collect(a, out);
            collect(b, out);
        }
    }
}

fn eval(n: &Node, lookup: &dyn Fn(&str) -> Option<i64>) -> Result<i64, EvalError> {
    match n {
        Node::Int(v) => Ok(*v),
        Node::Name(name) => lookup(name).ok_or_else(|| EvalError::Unknown(name.clone())),
        Node::Neg(a) => eval(a, lookup)?.checked_neg().ok_or(EvalError::Overflow),
        Node::Bin(op, a, b) => {
            let (a, b) = (eval(a, lookup)?, eval(b, lookup)?);
            match op {
                '+' => a.checked_add(b),
                '-' => a.checked_sub(b),
                _ => a.checked_mul(b),
            }
            .ok_or(EvalError::Overflow)
        }
    }
}

impl TryFrom<String> for Expr {
    type Error = ParseError;
    fn try_from(text: String) -> Result<Expr, ParseError> {
        Expr::parse(&text)
    }
}

impl From<Expr> for String {
    fn from(e: Expr) -> String {
        e.text
    }
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Int(i64),
    Name(String),
    Op(char),
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Int(v) => write!(f, "{v}"),
            Token::Name(n) => write!(f, "name {n:?}"),
            Token::Op(c) => write!(f, "'{c}'"),
        }
    }
}

fn tokens(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let mut run = |first: char, keep: fn(char) -> bool| {
            let mut s = String::from(first);
            while let Some(&(_, c)) = chars.peek().filter(|(_, c)| keep(*c)) {
                s.push(c);
                chars.next();
            }
            s
        };
        match c {
            c if c.is_whitespace() => {}
            '+' | '-' | '*' | '(' | ')' => out.push((at, Token::Op(c))),
            c if c.is_ascii_digit() => {
                let digits = run(c, |c| c.is_ascii_digit() || c == '_');
                let v = digits.replace('_', "").parse().map_err(|_| ParseError {
                    offset: at,
                    message: format!("{digits} does not fit a 64-bit integer"),
                })?;
                out.push((at, Token::Int(v)));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                out.push((at, Token::Name(run(c, |c| c.is_ascii_alphanumeric() || c == '_'))))
            }
            '/' => return Err(ParseError { offset: at, message: "no division: only + - * and parentheses".into() }),
            c => {
                let message = format!("unexpected {c:?}: expected integers, names, + - * and parentheses");
                return Err(ParseError { offset: at, message });
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: &'a [(usize, Token)],
    at: usize,
    end: usize,
}

impl Parser<'_> {
    fn peek_op(&self) -> Option<char> {
        match self.tokens.get(self.at) {
            Some((_, Token::Op(c))) => Some(*c),
            _ => None,
        }
    }

    fn sum(&mut self) -> Result<Node, ParseError> {
        let mut left = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek_op() {
            self.at += 1;
            left = Node::Bin(op, Box::new(left), Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Node, ParseError> {
        let mut left = self.unary()?;
        while let Some('*') = self.peek_op() {
            self.at += 1;
            left = Node::Bin('*', Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if self.peek_op() == Some('-') {
            self.at += 1;
            return Ok(Node::Neg(Box::new(self.unary()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Node, ParseError> {
        let Some((offset, token)) = self.tokens.get(self.at) else {
            return Err(ParseError { offset: self.end, message: "the expression ends too early".into() });
        };
        self.at += 1;
        match token {
            Token::Int(v) => Ok(Node::Int(*v)),
            Token::Name(n) => Ok(Node::Name(n.clone())),
            Token::Op('(') => {
                let inner = self.sum()?;
                if self.peek_op() != Some(')') {
                    let offset = self.tokens.get(self.at).map_or(self.end, |(o, _)| *o);
                    return Err(ParseError { offset, message: "expected ')'".into() });
                }
                self.at += 1;
                Ok(inner)
            }
            t => Err(ParseError { offset: *offset, message: format!("unexpected {t}: expected an integer or a name") }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, names: &[(&str, i64)]) -> Result<i64, EvalError> {
        let lookup = |n: &str| names.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        Expr::parse(text).unwrap().eval(&lookup)
    }

    #[test]
    fn precedence_parentheses_and_unary_minus() {
        assert_eq!(value("1 + 2 * 3", &[]), Ok(7));
        assert_eq!(value("(1 + 2) * 3", &[]), Ok(9));
        assert_eq!(value("10 - 4 - 3", &[]), Ok(3), "left to right");
        assert_eq!(value("-2 * -(3 - 5)", &[]), Ok(-4));
        assert_eq!(value("1_000 * accounts", &[("accounts", 7)]), Ok(7_000));
        let names = [("before", 100), ("successes", 29), ("unknown", 2)];
        assert_eq!(value("before + successes + unknown", &names), Ok(131));
    }

    #[test]
    fn names_unknown_values_and_overflow() {
        let e = Expr::parse("a * (b + a) - c").unwrap();
        assert_eq!(e.names(), ["a", "b", "c"]);
        assert_eq!(value("a + 1", &[]), Err(EvalError::Unknown("a".into())));
        assert_eq!(value("9223372036854775807 + 1", &[]), Err(EvalError::Overflow));
        assert_eq!(value("-(-9223372036854775807 - 1)", &[]), Err(EvalError::Overflow));
        assert!(Expr::parse("42").unwrap().is_literal() && !e.is_literal());
    }

    #[test]
    fn parse_errors_say_where() {
        let err = |t: &str| Expr::parse(t).unwrap_err();
        assert_eq!(err("a +"), ParseError { offset: 3, message: "the expression ends too early".into() });
        assert_eq!(err("a / 2").offset, 2);
        assert!(err("a / 2").message.contains("no division"));
        assert_eq!(err("(a + 1").offset, 6);
        assert_eq!(err("a b").message, "unexpected name \"b\" after a complete expression");
        assert_eq!(err("a + * 2").offset, 4);
        assert_eq!(err("1.5").offset, 1);
        assert_eq!(err("99999999999999999999").message, "99999999999999999999 does not fit a 64-bit integer");
        assert_eq!(err("").offset, 0);
    }

    #[test]
    fn serializes_as_its_text() {
        let e = Expr::parse(" before + successes ").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"before + successes\"");
        assert_eq!(serde_json::from_str::<Expr>("\"before + successes\"").unwrap(), e);
        assert!(serde_json::from_str::<Expr>("\"before +\"").is_err());
    }
}
