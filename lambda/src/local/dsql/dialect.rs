//! What Aurora DSQL does with one SQL statement, decided from its text: a small lexer
//! (whitespace, `--` and `/* */` comments, string constants `'…'`, `E'…'` and
//! `$tag$…$tag$`, quoted identifiers) and a classifier over the leading keywords (and,
//! for `CREATE TABLE` / `ALTER TABLE ADD COLUMN`, the column types). No SQL parser: a
//! statement the classifier does not refuse is left for the PostgreSQL behind to answer.
//! [`split`] cuts a simple-Query string into its statements with the same lexer.
//!
//! Where a refusal's SQLSTATE and message come from, cited beside each:
//! - **[REC]** answers recorded against a live DSQL cluster (2026-09-15/18) by
//!   `Dreamescaper/dsql-emulator`, `test/conformance/golden/<file>.json`
//!   (<https://github.com/Dreamescaper/dsql-emulator/tree/main/test/conformance/golden>).
//! - **[RULES]** that project's rule file,
//!   <https://github.com/Dreamescaper/dsql-emulator/blob/main/rules/dsql-2026.09.yaml>.
//! - **[MINI]** `ministackorg/ministack`, whose DSQL proxy notes answers measured against
//!   DSQL (2026-08/10): <https://github.com/ministackorg/ministack/blob/main/ministack/core/pgproxy.py>,
//!   and its pull requests #1442 and #1567 (tables of DSQL's answers).
//! - **[QUOTAS]** <https://docs.aws.amazon.com/aurora-dsql/latest/userguide/CHAP_quotas.html>
//!   and the starter kit's copy, <https://awslabs.github.io/aurora-dsql-starter-kit/quotas-and-limits.html>.
//! - **[TROUBLE]** <https://awslabs.github.io/aurora-dsql-starter-kit/troubleshooting.html>.
//! - **[DDL]** <https://docs.aws.amazon.com/aurora-dsql/latest/userguide/working-with-ddl.html>.
//! - **[INFERRED]** no source gives the wording: the message follows the pattern DSQL
//!   was recorded using for its neighbours (e.g. `unsupported statement: <parse node>`),
//!   and is marked "wording not found".

// ---------------------------------------------------------------------------------
// Messages DSQL answers outside the classifier (conflicts, limits, transaction rules)
// ---------------------------------------------------------------------------------

/// SQLSTATE of both OCC conflicts (`serialization_failure`).
pub const OCC_SQLSTATE: &str = "40001";
/// A data conflict at COMMIT (SQLSTATE 40001). Wording of [TROUBLE] and the facts file
/// §1.1. (The cluster recorded in [REC] `occ_conflict.json` answered
/// `change conflicts with another transaction (OC000)`; clients should match the SQLSTATE.)
pub const OC000_MESSAGE: &str = "mutation conflicts with another transaction, retry as needed (OC000)";
/// A schema conflict: the session's catalog is stale (SQLSTATE 40001). [DDL], verbatim.
pub const OC001_MESSAGE: &str = "schema has been updated by another transaction, please retry: (OC001)";

/// SQLSTATE of the transaction limits (`program_limit_exceeded`). [QUOTAS]
pub const LIMIT_SQLSTATE: &str = "54000";
/// More than 3,000 rows mutated in one transaction (54000). [QUOTAS]; [REC] `transaction.json`.
pub const ROW_LIMIT_MESSAGE: &str = "transaction row limit exceeded";
/// More than 10 MiB modified in one transaction (54000). [QUOTAS] (starter kit), which
/// also gives the DETAIL: `Current transaction size {size}mb 10mb`.
pub const SIZE_LIMIT_MESSAGE: &str = "transaction size limit 10mb exceeded";
/// A transaction older than 5 minutes (54000). [QUOTAS]
pub const AGE_LIMIT_MESSAGE: &str = "transaction age limit of 300s exceeded";
/// SQLSTATE of too many open connections (`too_many_connections`). [QUOTAS]
pub const TOO_MANY_CONNECTIONS_SQLSTATE: &str = "53300";
/// More than the cluster's connections (10,000 by default) open at once. [QUOTAS], verbatim.
pub const TOO_MANY_CONNECTIONS_MESSAGE: &str = "Unable to accept connection, too many open connections.";
/// SQLSTATE of the new-connection rate limit (`configuration_limit_exceeded`). [QUOTAS]
pub const RATE_EXCEEDED_SQLSTATE: &str = "53400";
/// More than 100 new connections a second (burst 1,000). [QUOTAS], verbatim.
pub const RATE_EXCEEDED_MESSAGE: &str = "Unable to accept connection, rate exceeded.";

/// SQLSTATE of everything DSQL does not offer (`feature_not_supported`).
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
/// A second DDL statement in one transaction (0A000). [REC] `transaction.json` and
/// `multi_statement.json` (explicit and implicit transactions alike).
pub const MULTIPLE_DDL_MESSAGE: &str = "multiple ddl statements not supported in a transaction";
/// DDL and DML in one transaction, either order (0A000). [REC] `transaction.json`,
/// `multi_statement.json`.
pub const DDL_DML_MIX_MESSAGE: &str = "ddl and dml are not supported in the same transaction";

// ---------------------------------------------------------------------------------
// The classifier's refusals (SQLSTATE 0A000 unless said otherwise)
// ---------------------------------------------------------------------------------

/// [REC] `unsupported.json`
const TRUNCATE: &str = "unsupported statement: Truncate";
/// [REC] `unsupported.json`
const EXTENSION: &str = "unsupported statement: CreateExtension";
/// [REC] `unsupported.json`
const TRIGGER: &str = "CREATE TRIGGER not supported";
/// Wording not found; [INFERRED] from the parse node, `CreateEventTrigStmt`.
const EVENT_TRIGGER: &str = "unsupported statement: CreateEventTrig";
/// [REC] `unsupported.json`
const CREATE_DATABASE: &str = "unsupported statement: Createdb";
/// Wording not found; [INFERRED] from `Createdb` (the parse node is `DropdbStmt`).
const DROP_DATABASE: &str = "unsupported statement: Dropdb";
/// [REC] `unsupported.json`
const TEMP_TABLE: &str = "TEMPORARY or TEMP table not supported for CREATE TABLE";
/// Wording not found (a temporary view or sequence); [INFERRED] from the table's.
const TEMP_OBJECT: &str = "TEMPORARY or TEMP objects not supported";
/// [REC] `unsupported.json`
const UNLOGGED_TABLE: &str = "UNLOGGED table not supported for CREATE TABLE";
/// [REC] `unsupported.json`: both `CREATE MATERIALIZED VIEW` and `CREATE TABLE … AS`.
/// `SELECT … INTO` is the same parse node (`CreateTableAsStmt`), so the same answer
/// ([INFERRED] for it: wording not found).
const CREATE_TABLE_AS: &str = "unsupported statement: CreateTableAs";
/// [REC] `unsupported.json`
const TABLESPACE: &str = "unsupported statement: CreateTableSpace";
/// [REC] `unsupported.json`
const FOREIGN_TABLE: &str = "unsupported statement: CreateForeignTable";
/// [REC] `unsupported.json`
const VACUUM: &str = "unsupported VACUUM statement";
/// Wording not found; [INFERRED] from the parse node, `LockStmt`.
const LOCK: &str = "unsupported statement: Lock";
/// Wording not found; [INFERRED]: an anonymous block is PL/pgSQL (`DoStmt`).
const DO_BLOCK: &str = "unsupported statement: Do";
/// [REC] `unsupported.json`
const LISTEN: &str = "unsupported statement: Listen";
/// [REC] `unsupported.json`
const NOTIFY: &str = "unsupported statement: Notify";
/// [REC] `unsupported.json`
const UNLISTEN: &str = "unsupported statement: Unlisten";
/// [REC] `unsupported.json`
const ALTER_SYSTEM: &str = "unsupported statement: AlterSystem";
/// [RULES] `merge`. DSQL's supported DML is INSERT, UPDATE and DELETE (docs, "Supported SQL").
const MERGE: &str = "unsupported statement type: MERGE";
/// [RULES] `unsupported_locking`; [MINI] #1442, a table of DSQL's answers (FOR SHARE,
/// FOR NO KEY UPDATE, in a CTE or subquery too).
const LOCKING: &str = "locking clauses other than FOR UPDATE/FOR KEY SHARE are not supported";
/// [REC] `transaction.json`
const SAVEPOINT: &str = "unsupported transaction statement: SAVEPOINT";
/// [RULES] `release_savepoint`
const RELEASE: &str = "unsupported transaction statement: RELEASE";
/// [REC] `transaction.json`
const ROLLBACK_TO: &str = "unsupported transaction statement: ROLLBACK TO";
/// [REC] `transaction.json`, `isolation.json`: every `SET TRANSACTION` (even READ ONLY,
/// even REPEATABLE READ) and, per [RULES], `SET SESSION CHARACTERISTICS`.
const SET_TRANSACTION: &str = "setting configuration parameter \"TRANSACTION\" not supported";
/// [REC] `index.json` (a plain `CREATE INDEX`, on an empty table too). The starter
/// kit's troubleshooting page words it `use CREATE INDEX ASYNC instead` [TROUBLE]; the
/// live cluster answered this.
const SYNC_INDEX: &str = "unsupported mode. please use CREATE INDEX ASYNC.";
/// [MINI] (`_check_index_rules`, measured).
const INDEX_CONCURRENTLY: &str = "CONCURRENTLY not supported for CREATE INDEX";
/// [MINI] (`_check_index_rules`, measured).
const INDEX_USING: &str = "USING not supported for CREATE INDEX";
/// Wording not found; the docs list ASC | DESC as unsupported clauses of
/// `CREATE INDEX ASYNC` ("Unsupported PostgreSQL features"). [INFERRED]
const INDEX_ORDER: &str = "ASC/DESC not supported for CREATE INDEX ASYNC";
/// SQLSTATE 54011. [QUOTAS]
const INDEX_KEYS: &str = "more than 8 column keys in an index are not supported";
/// [REC] `unsupported.json`: `CREATE FUNCTION with language plpgsql not supported`.
const FUNCTION_LANGUAGE: &str = "CREATE FUNCTION with language {} not supported";
/// [REC] `unsupported.json` (enum types); also answers other `CREATE TYPE` forms
/// without a recorded wording ([INFERRED]).
const CREATE_TYPE: &str = "CREATE TYPE not supported";
/// [REC] `unsupported.json`
const COMPOSITE_TYPE: &str = "unsupported statement: CompositeType";
/// [REC] `unsupported.json`
const RANGE_TYPE: &str = "unsupported statement: CreateRange";
/// [RULES] `alter_enum`
const ALTER_TYPE: &str = "ALTER TYPE not supported";
/// [RULES] `rename_type`
const RENAME_TYPE: &str = "unsupported object in RENAME statement";
/// [RULES] `drop_type`
const DROP_TYPE: &str = "unsupported object in DROP statement";
/// [REC] `supported.json`
const SEQUENCE_CACHE: &str = "CREATE SEQUENCE is not supported without an explicit cache size. please define CACHE greater than or equal to 65536 or equal to 1";
/// [REC] `supported.json`
const IDENTITY_CACHE: &str = "identity column is not supported without an explicit cache size. please define CACHE greater than or equal to 65536 or equal to 1";
/// [REC] `supported.json`: `datatype integer not supported, identity column type must be bigint`.
const IDENTITY_TYPE: &str = "datatype {} not supported, identity column type must be bigint";
/// SQLSTATE 42704. [REC] `unsupported.json` and `alters.json` (`serial`); the other
/// serial types are named as written ([INFERRED]).
const SERIAL_TYPE: &str = "type \"{}\" does not exist";
/// [REC] `alters.json` (`datatype money not supported`, `datatype text[] not supported`).
const UNSUPPORTED_TYPE: &str = "datatype {} not supported";
/// [REC] `alters.json`, `backlog.json` (NOT NULL, DEFAULT, CHECK, UNIQUE, identity).
const ADD_COLUMN_CONSTRAINT: &str = "ALTER TABLE ADD COLUMN with constraint not supported";
/// [MINI] (`_check_add_column`, measured).
const ADD_COLUMN_COLLATE: &str = "COLLATE clause not supported";
/// [REC] `alters.json`: a key, or a CHECK / FOREIGN KEY without NOT VALID.
const ADD_CONSTRAINT: &str = "unsupported ALTER TABLE ADD CONSTRAINT statement";
/// [REC] `alters.json`, whatever the new type.
const ALTER_COLUMN_TYPE: &str = "unsupported ALTER TABLE ALTER COLUMN ... SET DATA TYPE statement";
/// [REC] `alters.json`: only `ALTER TABLE ASYNC … VALIDATE CONSTRAINT` is accepted.
const VALIDATE_CONSTRAINT: &str = "unsupported ALTER TABLE VALIDATE CONSTRAINT statement";
/// Wording not found; [INFERRED] from the CREATE TABLE refusals ("… not supported for
/// CREATE TABLE"). The docs list PARTITION and INHERITS as unsupported clauses.
const TABLE_CLAUSE: &str = "{} not supported for CREATE TABLE";
/// Wording not found; [INFERRED] from `unsupported transaction statement: …` [REC].
const TWO_PHASE: &str = "unsupported transaction statement: {}";
/// SQLSTATE 42809. [REC] `index.json`: `SELECT sys.wait_for_job(…)`.
const WAIT_FOR_JOB_SELECT: &str = "sys.wait_for_job(text) is a procedure";
/// [REC] `index.json` (PostgreSQL's own wording).
const CALL_SUBQUERY: &str = "cannot use subquery in CALL argument";
/// SQLSTATE 42601: PostgreSQL's answer to more than one statement in a Parse message.
const MULTIPLE_COMMANDS: &str = "cannot insert multiple commands into a prepared statement";

/// The only isolation level DSQL offers (snapshot isolation).
const REPEATABLE_READ: &str = "REPEATABLE READ";
/// Settings DSQL refuses to change, [MINI] (observed, eu-central-1, 2026-10-04).
const UNSETTABLE: [&str; 3] = ["statement_timeout", "work_mem", "default_statistics_target"];
/// Column types refused as `datatype … not supported`: [RULES] `unsupported_type`.
const UNSUPPORTED_TYPES: [&str; 25] = [
    "money",
    "xml",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "tsvector",
    "tsquery",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "bit",
    "varbit",
    "bit varying",
    "pg_lsn",
];
/// Pseudo-types DSQL does not have: refused as unknown types (42704).
const SERIAL_TYPES: [&str; 6] = ["serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"];
/// Words after which a column definition's type has ended.
const CONSTRAINT_WORDS: [&str; 14] = [
    "CONSTRAINT",
    "NOT",
    "NULL",
    "DEFAULT",
    "PRIMARY",
    "UNIQUE",
    "CHECK",
    "REFERENCES",
    "COLLATE",
    "GENERATED",
    "STORAGE",
    "COMPRESSION",
    "DEFERRABLE",
    "INITIALLY",
];

// ---------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------

/// What DSQL would do with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `BEGIN` / `START TRANSACTION`, with the isolation level (upper-cased, e.g.
    /// `"REPEATABLE READ"`) if one was given, and whether it asked for READ ONLY. A
    /// level other than REPEATABLE READ is refused instead.
    Begin { isolation: Option<String>, read_only: bool },
    /// `COMMIT`, `END`, `COMMIT WORK/TRANSACTION`.
    Commit,
    /// `ROLLBACK`, `ABORT` (`ROLLBACK TO SAVEPOINT` is refused instead).
    Rollback,
    /// A read: `SELECT` without a locking clause, `VALUES`, `TABLE`, `WITH … SELECT`,
    /// `EXPLAIN` (but `EXPLAIN ANALYZE` of a write), cursors (`DECLARE`, `FETCH`, …),
    /// `COPY … TO`.
    Read,
    /// `SELECT … FOR UPDATE` (the rows read count as written, on DSQL). `FOR KEY SHARE`,
    /// which DSQL accepts and checks at commit against deletes and key updates
    /// ([MINI] #1567; [REC] `occ_conflict.json`), is put here too.
    ReadForUpdate,
    /// `INSERT`, `UPDATE`, `DELETE`, `WITH` feeding or holding one of those, `EXPLAIN
    /// ANALYZE` of one, `COPY … FROM`, `CALL` (but `sys.wait_for_job`), `EXECUTE`.
    Write,
    /// Schema and privileges: `CREATE`/`ALTER`/`DROP` of tables, views, schemas, roles,
    /// sequences, domains, SQL functions, `DROP INDEX`, `GRANT`, `REVOKE`, `COMMENT ON`.
    Ddl,
    /// `CREATE [UNIQUE] INDEX ASYNC [IF NOT EXISTS] [name] ON table (columns) rest`,
    /// each part as written (SQL text, quotes kept), to build the real `CREATE INDEX`
    /// from. `name` is empty when none was given (DSQL then picks one); `columns` are
    /// the key elements (`b NULLS FIRST`, `(lower(v))`); `rest` is what follows the
    /// column list (`INCLUDE (…)`, `NULLS [NOT] DISTINCT`, `WHERE …`), or empty.
    AsyncIndex { unique: bool, if_not_exists: bool, name: String, table: String, columns: Vec<String>, rest: String },
    /// `AWS IAM GRANT role TO 'arn'`: the role name (folded as PostgreSQL folds it) and
    /// the ARN.
    IamGrant { role: String, arn: String },
    /// `AWS IAM REVOKE role FROM 'arn'`.
    IamRevoke { role: String, arn: String },
    /// `CALL sys.wait_for_job(…)`: the literal's value, or the argument's SQL text when
    /// it is not a string literal (`$1` in a Parse message).
    WaitForJob { job_id: String },
    /// Session state, no data: `SET` (but `SET TRANSACTION` and the isolation settings,
    /// refused), `RESET`, `SHOW`, `DISCARD`, `DEALLOCATE`, `PREPARE`, `ANALYZE`; also any
    /// statement not recognised, which PostgreSQL will answer.
    Session,
    /// Only whitespace, comments and semicolons.
    Empty,
    /// What DSQL answers instead of running it.
    Refused(Refusal),
}

/// An error DSQL answers a statement with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The SQLSTATE, e.g. `0A000`.
    pub sqlstate: &'static str,
    /// The primary message.
    pub message: String,
}

/// What DSQL would do with one statement (what a client sends in a Parse message, or
/// one of the parts [`split`] cuts a simple Query into). A trailing `;` is allowed;
/// more than one statement is refused as PostgreSQL refuses it in a Parse message.
pub fn classify(sql: &str) -> Statement {
    let toks = lex(sql);
    match statement_ranges(&toks).as_slice() {
        [] => Statement::Empty,
        [(from, to)] => Stmt { sql, toks: toks[*from..*to].to_vec() }.classify(),
        _ => refused("42601", MULTIPLE_COMMANDS),
    }
}

/// Top-level statements of a simple-query string (text of each, trimmed, without the
/// `;`). A `;` inside a string, quoted identifier, comment or `BEGIN ATOMIC … END` body
/// does not cut; parts with nothing but whitespace and comments are left out.
pub fn split(sql: &str) -> Vec<&str> {
    let toks = lex(sql);
    let ranges = statement_ranges(&toks);
    ranges
        .into_iter()
        .map(|(from, to)| {
            let start = if from == 0 { 0 } else { toks[from - 1].end };
            let end = toks.get(to).map_or(sql.len(), |t| t.start);
            sql[start..end].trim()
        })
        .collect()
}

fn refused(sqlstate: &'static str, message: impl Into<String>) -> Statement {
    Statement::Refused(Refusal { sqlstate, message: message.into() })
}

/// What the local front does not relay, though DSQL may accept it.
const COPY_FROM_STDIN: &str = "COPY FROM STDIN is not supported by the local DSQL front: use INSERT";
const AND_CHAIN: &str = "AND CHAIN is not supported by the local DSQL front";

fn unsupported(message: impl Into<String>) -> Statement {
    refused(FEATURE_NOT_SUPPORTED, message)
}

/// A message with its one `{}` filled.
fn fill(template: &str, value: &str) -> String {
    template.replacen("{}", value, 1)
}

// ---------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A bare keyword or identifier, upper-cased (ASCII letters only, as PostgreSQL folds).
    Word(String),
    /// A double-quoted identifier, unescaped, its case kept.
    Quoted(String),
    /// A string constant (`'…'`, `E'…'`, `$tag$…$tag$`), its value.
    Str(String),
    /// A parameter placeholder, `$1`.
    Param,
    /// A number.
    Num,
    /// One of `( ) , ; . [ ] :`.
    Punct(char),
    /// An operator, or any other character.
    Op,
}

/// A token and the byte span of its text.
#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

fn lex(sql: &str) -> Vec<Tok> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let next = b.get(i + 1).copied();
        let (kind, end) = match b[i] {
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if next == Some(b'-') => {
                i = b[i..].iter().position(|c| *c == b'\n').map_or(b.len(), |p| i + p + 1);
                continue;
            }
            b'/' if next == Some(b'*') => {
                i = comment_end(b, i);
                continue;
            }
            b'\'' => string(sql, i + 1, false),
            b'E' | b'e' if next == Some(b'\'') => string(sql, i + 2, true),
            b'N' | b'n' | b'B' | b'b' | b'X' | b'x' if next == Some(b'\'') => string(sql, i + 2, false),
            b'"' => quoted_identifier(sql, i + 1),
            b'$' => dollar(sql, i),
            c if c.is_ascii_digit() || (c == b'.' && next.is_some_and(|n| n.is_ascii_digit())) => {
                (Kind::Num, number_end(b, i))
            }
            c if is_identifier_start(c) => word(sql, i),
            c @ (b'(' | b')' | b',' | b';' | b'.' | b'[' | b']' | b':') => (Kind::Punct(char::from(c)), i + 1),
            _ => (Kind::Op, operator_end(b, i)),
        };
        out.push(Tok { kind, start: i, end });
        i = end;
    }
    out
}

/// Letters, `_`, and every byte of a non-ASCII character (as PostgreSQL's lexer).
fn is_identifier_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_identifier_char(c: u8) -> bool {
    is_identifier_start(c) || c.is_ascii_digit() || c == b'$'
}

fn word(sql: &str, i: usize) -> (Kind, usize) {
    let b = sql.as_bytes();
    let end = b[i..].iter().position(|c| !is_identifier_char(*c)).map_or(b.len(), |p| i + p);
    (Kind::Word(sql[i..end].to_ascii_uppercase()), end)
}

/// Past the end of a (nested) block comment that opens at `i`.
fn comment_end(b: &[u8], i: usize) -> usize {
    let (mut depth, mut j) = (0usize, i);
    while j + 1 < b.len() {
        match (b[j], b[j + 1]) {
            (b'/', b'*') => {
                depth += 1;
                j += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return j;
                }
            }
            _ => j += 1,
        }
    }
    b.len()
}

/// A string constant whose body starts at `from`; `escapes` for `E'…'` (backslashes).
fn string(sql: &str, from: usize, escapes: bool) -> (Kind, usize) {
    let b = sql.as_bytes();
    let mut value = String::new();
    let (mut j, mut run) = (from, from);
    while j < b.len() {
        match b[j] {
            b'\\' if escapes => {
                value.push_str(&sql[run..j]);
                run = j;
                let Some(c) = sql[j + 1..].chars().next() else { break };
                value.push(match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
                j += 1 + c.len_utf8();
                run = j;
            }
            b'\'' if b.get(j + 1) == Some(&b'\'') => {
                value.push_str(&sql[run..=j]);
                j += 2;
                run = j;
            }
            b'\'' => {
                value.push_str(&sql[run..j]);
                return (Kind::Str(value), j + 1);
            }
            _ => j += 1,
        }
    }
    value.push_str(&sql[run.min(b.len())..]);
    (Kind::Str(value), b.len())
}

fn quoted_identifier(sql: &str, from: usize) -> (Kind, usize) {
    let b = sql.as_bytes();
    let mut value = String::new();
    let (mut j, mut run) = (from, from);
    while j < b.len() {
        if b[j] == b'"' {
            value.push_str(&sql[run..j]);
            if b.get(j + 1) != Some(&b'"') {
                return (Kind::Quoted(value), j + 1);
            }
            j += 1;
            run = j;
        }
        j += 1;
    }
    value.push_str(&sql[run.min(b.len())..]);
    (Kind::Quoted(value), b.len())
}

/// `$1`, a dollar-quoted string `$tag$…$tag$`, or a lone `$`.
fn dollar(sql: &str, i: usize) -> (Kind, usize) {
    let b = sql.as_bytes();
    let rest = &b[i + 1..];
    if rest.first().is_some_and(u8::is_ascii_digit) {
        return (Kind::Param, rest.iter().position(|c| !c.is_ascii_digit()).map_or(b.len(), |p| i + 1 + p));
    }
    let tag_len = if rest.first().is_some_and(|c| is_identifier_start(*c)) {
        rest.iter().position(|c| !(is_identifier_start(*c) || c.is_ascii_digit())).unwrap_or(rest.len())
    } else {
        0
    };
    if rest.get(tag_len) != Some(&b'$') {
        return (Kind::Op, i + 1);
    }
    let tag = &sql[i..i + tag_len + 2];
    let body = i + tag_len + 2;
    match sql[body..].find(tag) {
        Some(k) => (Kind::Str(sql[body..body + k].to_string()), body + k + tag.len()),
        None => (Kind::Str(sql[body..].to_string()), b.len()),
    }
}

fn number_end(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() {
        let c = b[j];
        let exponent_sign = (c == b'+' || c == b'-')
            && matches!(b[j - 1], b'e' | b'E')
            && b[i..j - 1].iter().all(|d| d.is_ascii_digit() || *d == b'.');
        if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exponent_sign) {
            break;
        }
        j += 1;
    }
    j
}

/// A run of operator characters, cut where a comment starts; any other character alone.
fn operator_end(b: &[u8], i: usize) -> usize {
    const OPERATOR: &[u8] = b"+-*/<>=~!@#%^&|`?";
    let mut j = i;
    while j < b.len() && OPERATOR.contains(&b[j]) {
        if j > i && (b[j..].starts_with(b"--") || b[j..].starts_with(b"/*")) {
            break;
        }
        j += 1;
    }
    j.max(i + 1)
}

fn is_word(t: &Tok, w: &str) -> bool {
    matches!(&t.kind, Kind::Word(x) if x == w)
}

/// Token ranges of the statements, cut at `;` outside `BEGIN ATOMIC … END` bodies;
/// empty statements left out.
fn statement_ranges(toks: &[Tok]) -> Vec<(usize, usize)> {
    let (mut out, mut start, mut atomic) = (Vec::new(), 0, 0usize);
    for (i, t) in toks.iter().enumerate() {
        let opens_atomic = is_word(t, "ATOMIC") && i > 0 && is_word(&toks[i - 1], "BEGIN");
        if opens_atomic || (atomic > 0 && is_word(t, "CASE")) {
            atomic += 1;
        } else if atomic > 0 && is_word(t, "END") {
            atomic -= 1;
        } else if atomic == 0 && t.kind == Kind::Punct(';') {
            if i > start {
                out.push((start, i));
            }
            start = i + 1;
        }
    }
    if toks.len() > start {
        out.push((start, toks.len()));
    }
    out
}

// ---------------------------------------------------------------------------------
// Classifier
// ---------------------------------------------------------------------------------

/// One statement's tokens (no `;`), over its text.
struct Stmt<'a> {
    sql: &'a str,
    toks: Vec<Tok>,
}

/// The strongest row-locking clause of a statement.
enum Lock {
    None,
    Update,
    Refused,
}

impl<'a> Stmt<'a> {
    fn len(&self) -> usize {
        self.toks.len()
    }

    /// The upper-cased word at `i`, if a bare word is there.
    fn word(&self, i: usize) -> Option<&str> {
        match self.toks.get(i).map(|t| &t.kind) {
            Some(Kind::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn is(&self, i: usize, w: &str) -> bool {
        self.word(i) == Some(w)
    }

    /// The words `ws` one after another from `i`.
    fn are(&self, i: usize, ws: &[&str]) -> bool {
        ws.iter().enumerate().all(|(k, w)| self.is(i + k, w))
    }

    fn punct(&self, i: usize, c: char) -> bool {
        self.toks.get(i).is_some_and(|t| t.kind == Kind::Punct(c))
    }

    /// The text of tokens `from..to`, as written.
    fn text(&self, from: usize, to: usize) -> &'a str {
        if from >= to || to > self.len() {
            return "";
        }
        &self.sql[self.toks[from].start..self.toks[to - 1].end]
    }

    /// An identifier's name as PostgreSQL resolves it (bare ones folded to lower case).
    fn ident(&self, i: usize) -> Option<String> {
        let t = self.toks.get(i)?;
        match &t.kind {
            Kind::Word(_) => Some(self.sql[t.start..t.end].to_ascii_lowercase()),
            Kind::Quoted(name) => Some(name.clone()),
            _ => None,
        }
    }

    fn string_at(&self, i: usize) -> Option<&str> {
        match self.toks.get(i).map(|t| &t.kind) {
            Some(Kind::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The `)` closing the `(` at `open` (or the end).
    fn close(&self, open: usize) -> usize {
        let mut depth = 0usize;
        for i in open..self.len() {
            if self.punct(i, '(') {
                depth += 1;
            } else if self.punct(i, ')') {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
        }
        self.len()
    }

    /// Indices of the tokens of `from..to` outside parentheses (an opening `(` itself is in).
    fn top(&self, from: usize, to: usize) -> Vec<usize> {
        let (mut out, mut depth) = (Vec::new(), 0usize);
        for i in from..to.min(self.len()) {
            if self.punct(i, '(') {
                if depth == 0 {
                    out.push(i);
                }
                depth += 1;
            } else if self.punct(i, ')') {
                depth = depth.saturating_sub(1);
            } else if depth == 0 {
                out.push(i);
            }
        }
        out
    }

    /// The comma-separated items of `from..to` (outside parentheses), as token ranges.
    fn items(&self, from: usize, to: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = from;
        for i in self.top(from, to) {
            if self.punct(i, ',') {
                out.push((start, i));
                start = i + 1;
            }
        }
        if to > start {
            out.push((start, to));
        }
        out
    }

    /// Past a possibly qualified name (`a`, `s.a`, `"S"."a"`) that starts at `i`.
    fn name_end(&self, i: usize) -> usize {
        let mut j = i + 1;
        while self.punct(j, '.') && self.ident(j + 1).is_some() {
            j += 2;
        }
        j
    }

    fn syntax_error(&self, i: usize) -> Statement {
        match self.toks.get(i) {
            Some(_) => refused("42601", format!("syntax error at or near \"{}\"", self.text(i, i + 1))),
            None => refused("42601", "syntax error at end of input"),
        }
    }

    fn classify(&self) -> Statement {
        if self.punct(0, '(') {
            return self.select_like();
        }
        let Some(first) = self.word(0) else { return Statement::Session };
        match first {
            "SELECT" | "VALUES" | "TABLE" | "DECLARE" => self.select_like(),
            "WITH" => self.with(),
            "INSERT" | "UPDATE" | "DELETE" => self.write(),
            "EXPLAIN" => self.explain(),
            "FETCH" | "MOVE" | "CLOSE" => Statement::Read,
            "COPY" => self.copy(),
            "BEGIN" | "START" => self.begin(),
            "COMMIT" | "END" => self.commit(),
            "ROLLBACK" | "ABORT" => self.rollback(),
            "SET" => self.set(),
            "SHOW" => self.show(),
            "CALL" => self.call(),
            "AWS" => self.aws_iam(),
            "CREATE" => self.create(),
            "ALTER" => self.alter(),
            "DROP" => self.drop(),
            "PREPARE" if self.is(1, "TRANSACTION") => unsupported(fill(TWO_PHASE, "PREPARE TRANSACTION")),
            "RESET" | "DISCARD" | "DEALLOCATE" | "PREPARE" | "ANALYZE" | "ANALYSE" => Statement::Session,
            "EXECUTE" => Statement::Write,
            "GRANT" | "REVOKE" | "COMMENT" | "SECURITY" | "REASSIGN" => Statement::Ddl,
            "MERGE" => unsupported(MERGE),
            "SAVEPOINT" => unsupported(SAVEPOINT),
            "RELEASE" => unsupported(RELEASE),
            "TRUNCATE" => unsupported(TRUNCATE),
            "VACUUM" => unsupported(VACUUM),
            "LOCK" => unsupported(LOCK),
            "DO" => unsupported(DO_BLOCK),
            "LISTEN" => unsupported(LISTEN),
            "NOTIFY" => unsupported(NOTIFY),
            "UNLISTEN" => unsupported(UNLISTEN),
            _ => Statement::Session,
        }
    }

    /// The strongest locking clause anywhere in the statement (a CTE or subquery too,
    /// as DSQL checks: [MINI] #1442). Literals are tokens of their own, so text inside
    /// them is not a clause.
    fn locking(&self) -> Lock {
        let mut lock = Lock::None;
        for i in 0..self.len() {
            if !self.is(i, "FOR") {
                continue;
            }
            if self.is(i + 1, "SHARE") || self.are(i + 1, &["NO", "KEY", "UPDATE"]) {
                return Lock::Refused;
            }
            if self.is(i + 1, "UPDATE") || self.are(i + 1, &["KEY", "SHARE"]) {
                lock = Lock::Update;
            }
        }
        lock
    }

    /// `SELECT`, `VALUES`, `TABLE`, a parenthesised query, `DECLARE … CURSOR FOR`.
    fn select_like(&self) -> Statement {
        match self.locking() {
            Lock::Refused => return unsupported(LOCKING),
            Lock::Update => return Statement::ReadForUpdate,
            Lock::None => {}
        }
        if self.is(0, "SELECT") && self.names_wait_for_job(1) {
            return refused("42809", WAIT_FOR_JOB_SELECT);
        }
        if self.top(0, self.len()).into_iter().any(|i| self.is(i, "INTO")) {
            return unsupported(CREATE_TABLE_AS);
        }
        Statement::Read
    }

    fn write(&self) -> Statement {
        match self.locking() {
            Lock::Refused => unsupported(LOCKING),
            _ => Statement::Write,
        }
    }

    /// `WITH …`: a write if the main statement or a CTE body is one.
    fn with(&self) -> Statement {
        let top = self.top(1, self.len());
        let mut body_writes = false;
        for &i in &top {
            let body = self.punct(i, '(') && (self.is(i - 1, "AS") || self.is(i - 1, "MATERIALIZED"));
            match self.word(i + 1) {
                Some("INSERT" | "UPDATE" | "DELETE") if body => body_writes = true,
                Some("MERGE") if body => return unsupported(MERGE),
                _ => {}
            }
        }
        let main = top.iter().find_map(|&i| {
            self.word(i)
                .filter(|w| matches!(*w, "SELECT" | "VALUES" | "TABLE" | "INSERT" | "UPDATE" | "DELETE" | "MERGE"))
        });
        match main {
            Some("MERGE") => unsupported(MERGE),
            Some("INSERT" | "UPDATE" | "DELETE") => self.write(),
            _ if body_writes => self.write(),
            _ => self.select_like(),
        }
    }

    /// `EXPLAIN [ANALYZE] [VERBOSE] stmt` or `EXPLAIN (options) stmt`: a read, unless
    /// ANALYZE runs a write; what DSQL refuses is refused explained too.
    fn explain(&self) -> Statement {
        let mut i = 1;
        let mut analyze = false;
        if self.punct(1, '(') {
            let close = self.close(1);
            for (from, to) in self.items(2, close) {
                if matches!(self.word(from), Some("ANALYZE" | "ANALYSE")) {
                    let value = self.text(from + 1, to).trim_matches('\'').to_ascii_lowercase();
                    analyze = !matches!(value.as_str(), "false" | "off" | "0" | "no");
                }
            }
            i = close + 1;
        } else {
            while let Some(w @ ("ANALYZE" | "ANALYSE" | "VERBOSE")) = self.word(i) {
                analyze |= w != "VERBOSE";
                i += 1;
            }
        }
        let inner = match self.toks.get(i) {
            Some(t) => classify(&self.sql[t.start..self.toks[self.len() - 1].end]),
            None => Statement::Empty,
        };
        match inner {
            Statement::Refused(_) => inner,
            Statement::Write | Statement::ReadForUpdate if analyze => inner,
            _ => Statement::Read,
        }
    }

    /// `COPY t FROM …` writes; `COPY … TO …` reads.
    fn copy(&self) -> Statement {
        let from = self.top(1, self.len()).into_iter().find(|&i| self.is(i, "FROM"));
        match from {
            // Not DSQL's refusal but the local front's: it does not relay COPY's sub-protocol.
            Some(i) if self.is(i + 1, "STDIN") => unsupported(COPY_FROM_STDIN),
            Some(_) => Statement::Write,
            None => Statement::Read,
        }
    }

    /// `… AND CHAIN` at the end of a COMMIT or ROLLBACK.
    fn chains(&self) -> bool {
        self.len() >= 2 && self.are(self.len() - 2, &["AND", "CHAIN"])
    }

    /// An isolation level's words from `i`, upper-cased, and where they end.
    fn isolation_level(&self, i: usize) -> Option<(String, usize)> {
        match (self.word(i)?, self.word(i + 1)) {
            (a @ ("REPEATABLE" | "READ"), Some(b @ ("READ" | "COMMITTED" | "UNCOMMITTED"))) => {
                Some((format!("{a} {b}"), i + 2))
            }
            (a, _) => Some((a.to_string(), i + 1)),
        }
    }

    /// `BEGIN [WORK | TRANSACTION] [modes]`, `START TRANSACTION [modes]`.
    fn begin(&self) -> Statement {
        let mut i = 1;
        if self.is(0, "START") && !self.is(1, "TRANSACTION") {
            return Statement::Session;
        }
        if self.is(1, "WORK") || self.is(1, "TRANSACTION") {
            i = 2;
        }
        let (mut isolation, mut read_only) = (None, false);
        while i < self.len() {
            if self.are(i, &["ISOLATION", "LEVEL"]) {
                let Some((level, next)) = self.isolation_level(i + 2) else { break };
                isolation = Some(level);
                i = next;
            } else if self.are(i, &["READ", "ONLY"]) || self.are(i, &["READ", "WRITE"]) {
                read_only = self.is(i + 1, "ONLY");
                i += 2;
            } else {
                i += 1; // a comma, [NOT] DEFERRABLE
            }
        }
        match isolation {
            // [REC] `isolation.json`: `Unsupported isolation level: SERIALIZABLE`.
            Some(level) if level != REPEATABLE_READ => unsupported(format!("Unsupported isolation level: {level}")),
            isolation => Statement::Begin { isolation, read_only },
        }
    }

    fn commit(&self) -> Statement {
        if self.is(1, "PREPARED") {
            return unsupported(fill(TWO_PHASE, "COMMIT PREPARED"));
        }
        if self.chains() {
            return unsupported(AND_CHAIN);
        }
        Statement::Commit
    }

    fn rollback(&self) -> Statement {
        let at = if self.is(1, "WORK") || self.is(1, "TRANSACTION") { 2 } else { 1 };
        if self.is(at, "TO") {
            return unsupported(ROLLBACK_TO);
        }
        if self.is(1, "PREPARED") {
            return unsupported(fill(TWO_PHASE, "ROLLBACK PREPARED"));
        }
        if self.chains() {
            return unsupported(AND_CHAIN);
        }
        Statement::Rollback
    }

    /// `SET [SESSION | LOCAL] …`.
    fn set(&self) -> Statement {
        let mut i = 1;
        if self.are(1, &["SESSION", "CHARACTERISTICS"]) {
            return self.set_transaction(2);
        }
        if self.is(1, "SESSION") || self.is(1, "LOCAL") {
            i = 2;
        }
        if self.is(i, "TRANSACTION") {
            return self.set_transaction(i + 1);
        }
        let mut name = String::new();
        while let Some(part) =
            self.ident(i).filter(|_| !self.is(i, "TO")).or_else(|| self.punct(i, '.').then(|| ".".into()))
        {
            if !name.is_empty() && part != "." && !name.ends_with('.') {
                name.push(' ');
            }
            name.push_str(&part);
            i += 1;
        }
        if self.is(i, "TO") || self.text(i, i + 1) == "=" {
            i += 1;
        }
        self.set_parameter(&name, i)
    }

    /// `SET TRANSACTION …` and `SET SESSION CHARACTERISTICS AS TRANSACTION …`: refused,
    /// naming the level if it is not REPEATABLE READ ([REC] `isolation.json`: the level
    /// is checked first).
    fn set_transaction(&self, from: usize) -> Statement {
        let level = (from..self.len())
            .find(|&i| self.are(i, &["ISOLATION", "LEVEL"]))
            .and_then(|i| self.isolation_level(i + 2))
            .map(|(level, _)| level);
        match level {
            Some(level) if level != REPEATABLE_READ => unsupported(format!("Unsupported isolation level: {level}")),
            _ => unsupported(SET_TRANSACTION),
        }
    }

    /// `SET name = value` (value from token `at`).
    fn set_parameter(&self, name: &str, at: usize) -> Statement {
        let values: Vec<String> =
            (at..self.len()).filter_map(|i| self.string_at(i).map(str::to_string).or_else(|| self.ident(i))).collect();
        let to_default = values.len() == 1 && values[0].eq_ignore_ascii_case("default");
        if name == "transaction_isolation" || name == "default_transaction_isolation" {
            let level = values.join(" ").to_ascii_uppercase();
            if !to_default && !level.is_empty() && level != REPEATABLE_READ {
                return unsupported(format!("Unsupported isolation level: {level}"));
            }
            // [REC] `isolation.json` for default_transaction_isolation; the other named alike.
            return unsupported(format!("setting configuration parameter \"{name}\" not supported"));
        }
        if UNSETTABLE.contains(&name) && !to_default {
            // [MINI] `_UNSETTABLE_PARAMS`, observed.
            return unsupported(format!("setting configuration parameter \"{name}\" not supported"));
        }
        Statement::Session
    }

    fn show(&self) -> Statement {
        // [REC] `environment.json` (lc_collate; PostgreSQL 16 has neither it nor lc_ctype).
        match self.ident(1) {
            Some(name) if self.len() == 2 && (name == "lc_collate" || name == "lc_ctype") => {
                refused("42704", format!("unrecognized configuration parameter \"{name}\""))
            }
            _ => Statement::Session,
        }
    }

    /// `sys . wait_for_job` from `i`.
    fn names_wait_for_job(&self, i: usize) -> bool {
        self.ident(i).as_deref() == Some("sys")
            && self.punct(i + 1, '.')
            && self.ident(i + 2).as_deref() == Some("wait_for_job")
    }

    /// `CALL sys.wait_for_job(arg)`; any other procedure may write.
    fn call(&self) -> Statement {
        if !(self.names_wait_for_job(1) && self.punct(4, '(')) {
            return Statement::Write;
        }
        let close = self.close(4);
        if (5..close).any(|i| self.is(i, "SELECT")) {
            return unsupported(CALL_SUBQUERY);
        }
        let job_id = match self.string_at(5) {
            Some(value) if close == 6 => value.to_string(),
            _ => self.text(5, close).to_string(),
        };
        Statement::WaitForJob { job_id }
    }

    /// `AWS IAM GRANT role TO 'arn'`, `AWS IAM REVOKE role FROM 'arn'`.
    fn aws_iam(&self) -> Statement {
        let grant = self.is(2, "GRANT");
        if !self.is(1, "IAM") || !(grant || self.is(2, "REVOKE")) {
            return self.syntax_error(if self.is(1, "IAM") { 2 } else { 1 });
        }
        let Some(role) = self.ident(3) else { return self.syntax_error(3) };
        if !self.is(4, if grant { "TO" } else { "FROM" }) {
            return self.syntax_error(4);
        }
        let Some(arn) = self.string_at(5).map(str::to_string) else { return self.syntax_error(5) };
        if self.len() > 6 {
            return self.syntax_error(6);
        }
        if grant {
            Statement::IamGrant { role, arn }
        } else {
            Statement::IamRevoke { role, arn }
        }
    }

    fn create(&self) -> Statement {
        let mut i = if self.are(1, &["OR", "REPLACE"]) { 3 } else { 1 };
        let temp = match self.word(i) {
            Some("GLOBAL" | "LOCAL") if matches!(self.word(i + 1), Some("TEMP" | "TEMPORARY")) => {
                i += 2;
                true
            }
            Some("TEMP" | "TEMPORARY") => {
                i += 1;
                true
            }
            _ => false,
        };
        let unlogged = self.is(i, "UNLOGGED");
        i += usize::from(unlogged);
        match self.word(i) {
            Some("TABLE") if temp => unsupported(TEMP_TABLE),
            Some("TABLE") if unlogged => unsupported(UNLOGGED_TABLE),
            Some("TABLE") => self.create_table(i + 1),
            _ if temp => unsupported(TEMP_OBJECT),
            Some("UNIQUE") if self.is(i + 1, "INDEX") => self.create_index(i + 2, true),
            Some("INDEX") => self.create_index(i + 1, false),
            Some("MATERIALIZED") => unsupported(CREATE_TABLE_AS),
            Some("TRIGGER") => unsupported(TRIGGER),
            Some("CONSTRAINT") if self.is(i + 1, "TRIGGER") => unsupported(TRIGGER),
            Some("EVENT") if self.is(i + 1, "TRIGGER") => unsupported(EVENT_TRIGGER),
            Some("EXTENSION") => unsupported(EXTENSION),
            Some("DATABASE") => unsupported(CREATE_DATABASE),
            Some("TABLESPACE") => unsupported(TABLESPACE),
            Some("FOREIGN") if self.is(i + 1, "TABLE") => unsupported(FOREIGN_TABLE),
            Some("TYPE") => self.create_type(i + 1),
            Some("FUNCTION" | "PROCEDURE") => self.create_function(i + 1),
            Some("SEQUENCE") => self.create_sequence(i + 1),
            _ => Statement::Ddl,
        }
    }

    /// `CREATE TYPE name AS ENUM | RANGE | (…)`, or a base or shell type.
    fn create_type(&self, from: usize) -> Statement {
        let top = self.top(from, self.len());
        let after_as = top.iter().position(|&i| self.is(i, "AS")).and_then(|p| top.get(p + 1)).copied();
        match after_as {
            Some(i) if self.is(i, "RANGE") => unsupported(RANGE_TYPE),
            Some(i) if self.punct(i, '(') => unsupported(COMPOSITE_TYPE),
            _ => unsupported(CREATE_TYPE),
        }
    }

    /// Only SQL functions: `LANGUAGE x` (or `'x'`) other than `sql` is refused.
    fn create_function(&self, from: usize) -> Statement {
        let language = self
            .top(from, self.len())
            .into_iter()
            .find(|&i| self.is(i, "LANGUAGE"))
            .and_then(|i| self.string_at(i + 1).map(str::to_string).or_else(|| self.ident(i + 1)))
            .map(|l| l.to_ascii_lowercase());
        match language {
            Some(l) if l != "sql" => unsupported(fill(FUNCTION_LANGUAGE, &l)),
            _ => Statement::Ddl,
        }
    }

    /// The CACHE of `from..to`, if one is given.
    fn cache(&self, from: usize, to: usize) -> Option<u64> {
        (from..to).find(|&i| self.is(i, "CACHE")).and_then(|i| self.text(i + 1, i + 2).parse().ok())
    }

    /// A sequence needs `CACHE 1` or `CACHE` of at least 65,536.
    fn create_sequence(&self, from: usize) -> Statement {
        if cache_allowed(self.cache(from, self.len())) {
            Statement::Ddl
        } else {
            unsupported(SEQUENCE_CACHE)
        }
    }

    fn create_table(&self, from: usize) -> Statement {
        let top = self.top(from, self.len());
        if top.iter().any(|&i| self.is(i, "AS")) {
            return unsupported(CREATE_TABLE_AS);
        }
        for &i in &top {
            if self.are(i, &["PARTITION", "BY"]) {
                return unsupported(fill(TABLE_CLAUSE, "PARTITION BY"));
            }
            if self.are(i, &["PARTITION", "OF"]) {
                return unsupported(fill(TABLE_CLAUSE, "PARTITION OF"));
            }
            if self.is(i, "INHERITS") {
                return unsupported(fill(TABLE_CLAUSE, "INHERITS"));
            }
        }
        let Some(&open) = top.iter().find(|&&i| self.punct(i, '(')) else { return Statement::Ddl };
        for (a, b) in self.items(open + 1, self.close(open)) {
            let table_constraint = matches!(
                self.word(a),
                Some("CONSTRAINT" | "PRIMARY" | "UNIQUE" | "CHECK" | "FOREIGN" | "LIKE" | "EXCLUDE")
            );
            if table_constraint {
                continue;
            }
            let type_end = self.type_end(a + 1, b);
            if let Some(refusal) =
                self.type_refusal(a + 1, type_end).or_else(|| self.identity_refusal(a + 1, type_end, b))
            {
                return refusal;
            }
        }
        Statement::Ddl
    }

    /// Where a column's type, starting at `from`, ends: at its first constraint word.
    fn type_end(&self, from: usize, to: usize) -> usize {
        (from..to).find(|&i| self.word(i).is_some_and(|w| CONSTRAINT_WORDS.contains(&w))).unwrap_or(to)
    }

    /// A column type's name, lower-cased, words joined by a space, without its
    /// modifiers, array marks or schema (`pg_catalog.int4` → `int4`).
    fn type_name(&self, from: usize, to: usize) -> Option<String> {
        let mut words: Vec<String> = Vec::new();
        for i in self.top(from, to) {
            if self.punct(i, '.') {
                words.clear();
            } else if !self.is(i, "ARRAY") && !self.punct(i, '(') {
                words.extend(self.ident(i));
            }
        }
        (!words.is_empty()).then(|| words.join(" "))
    }

    /// A column type DSQL does not have.
    fn type_refusal(&self, from: usize, to: usize) -> Option<Statement> {
        let name = self.type_name(from, to)?;
        if SERIAL_TYPES.contains(&name.as_str()) {
            return Some(refused("42704", fill(SERIAL_TYPE, &name)));
        }
        if (from..to).any(|i| self.punct(i, '[') || self.is(i, "ARRAY")) {
            return Some(unsupported(fill(UNSUPPORTED_TYPE, &format!("{}[]", canonical_type(&name)))));
        }
        if UNSUPPORTED_TYPES.contains(&name.as_str()) {
            return Some(unsupported(fill(UNSUPPORTED_TYPE, canonical_type(&name))));
        }
        None
    }

    /// An identity column needs an explicit CACHE (1 or ≥ 65,536) and the type bigint.
    fn identity_refusal(&self, type_from: usize, type_end: usize, to: usize) -> Option<Statement> {
        let at = self.top(type_end, to).into_iter().find(|&i| self.are(i, &["AS", "IDENTITY"]))?;
        let options = at + 2;
        let cache = if self.punct(options, '(') { self.cache(options, self.close(options)) } else { None };
        if !cache_allowed(cache) {
            return Some(unsupported(IDENTITY_CACHE));
        }
        let name = self.type_name(type_from, type_end).unwrap_or_default();
        let type_name = canonical_type(&name);
        (type_name != "bigint").then(|| unsupported(fill(IDENTITY_TYPE, type_name)))
    }

    /// `CREATE [UNIQUE] INDEX …` from `from` (past INDEX). Checked in the order DSQL
    /// reports ([MINI], measured): name grammar, CONCURRENTLY, USING, key count, mode.
    fn create_index(&self, from: usize, unique: bool) -> Statement {
        let is_async = self.is(from, "ASYNC");
        let mut i = from + usize::from(is_async);
        if self.is(i, "CONCURRENTLY") {
            return unsupported(INDEX_CONCURRENTLY);
        }
        let if_not_exists = self.are(i, &["IF", "NOT", "EXISTS"]);
        i += if if_not_exists { 3 } else { 0 };
        let mut name = String::new();
        if !self.is(i, "ON") {
            // [REC] `index.json`: a schema-qualified index name is a syntax error.
            if self.punct(i + 1, '.') {
                return self.syntax_error(i + 1);
            }
            name = self.text(i, i + 1).to_string();
            i += 1;
        } else if if_not_exists {
            // [MINI]: IF NOT EXISTS needs a name.
            return self.syntax_error(i);
        }
        if !self.is(i, "ON") {
            return self.syntax_error(i);
        }
        i += 1 + usize::from(self.is(i + 1, "ONLY"));
        let table_end = self.name_end(i);
        let table = self.text(i, table_end).to_string();
        if self.is(table_end, "USING") {
            return unsupported(INDEX_USING);
        }
        if !self.punct(table_end, '(') {
            return self.syntax_error(table_end);
        }
        let close = self.close(table_end);
        let keys = self.items(table_end + 1, close);
        if keys.len() > 8 {
            return refused("54011", INDEX_KEYS);
        }
        if !is_async {
            return unsupported(SYNC_INDEX);
        }
        if keys.iter().any(|&(a, b)| self.top(a, b).into_iter().any(|k| self.is(k, "ASC") || self.is(k, "DESC"))) {
            return unsupported(INDEX_ORDER);
        }
        let columns = keys.iter().map(|&(a, b)| self.text(a, b).to_string()).collect();
        let rest = self.text(close + 1, self.len()).to_string();
        Statement::AsyncIndex { unique, if_not_exists, name, table, columns, rest }
    }

    fn alter(&self) -> Statement {
        match self.word(1) {
            Some("SYSTEM") => unsupported(ALTER_SYSTEM),
            Some("TYPE") if self.top(2, self.len()).into_iter().any(|i| self.are(i, &["RENAME", "TO"])) => {
                unsupported(RENAME_TYPE)
            }
            Some("TYPE") => unsupported(ALTER_TYPE),
            Some("TABLE") => self.alter_table(),
            _ => Statement::Ddl,
        }
    }

    /// `ALTER TABLE [ASYNC] [IF EXISTS] [ONLY] name action, …`.
    fn alter_table(&self) -> Statement {
        let is_async = self.is(2, "ASYNC");
        let mut i = 2 + usize::from(is_async);
        i += if self.are(i, &["IF", "EXISTS"]) { 2 } else { 0 };
        i += usize::from(self.is(i, "ONLY"));
        let mut actions = self.name_end(i);
        actions += usize::from(self.text(actions, actions + 1) == "*");
        for (a, b) in self.items(actions, self.len()) {
            if let Some(refusal) = self.alter_action_refusal(a, b, is_async) {
                return refusal;
            }
        }
        Statement::Ddl
    }

    fn alter_action_refusal(&self, a: usize, b: usize, is_async: bool) -> Option<Statement> {
        match self.word(a)? {
            "ADD" if self.is(a + 1, "CONSTRAINT") => self.add_constraint_refusal(a + 3, b),
            "ADD" if matches!(self.word(a + 1), Some("PRIMARY" | "UNIQUE" | "CHECK" | "FOREIGN" | "EXCLUDE")) => {
                self.add_constraint_refusal(a + 1, b)
            }
            "ADD" => {
                let mut k = a + 1 + usize::from(self.is(a + 1, "COLUMN"));
                k += if self.are(k, &["IF", "NOT", "EXISTS"]) { 3 } else { 0 };
                self.add_column_refusal(k, b)
            }
            "ALTER" => {
                let column = a + 1 + usize::from(self.is(a + 1, "COLUMN"));
                let retype = self.is(column + 1, "TYPE") || self.are(column + 1, &["SET", "DATA", "TYPE"]);
                retype.then(|| unsupported(ALTER_COLUMN_TYPE))
            }
            "VALIDATE" if !is_async => Some(unsupported(VALIDATE_CONSTRAINT)),
            _ => None,
        }
    }

    /// `ADD [CONSTRAINT name] …` from the constraint's kind at `k`: only CHECK and
    /// FOREIGN KEY added NOT VALID, and UNIQUE USING INDEX.
    fn add_constraint_refusal(&self, k: usize, b: usize) -> Option<Statement> {
        let top = self.top(k, b);
        let has = |ws: &[&str]| top.iter().any(|&i| self.are(i, ws));
        let refuse = match self.word(k)? {
            "PRIMARY" | "EXCLUDE" => true,
            "UNIQUE" => !has(&["USING", "INDEX"]),
            "CHECK" | "FOREIGN" => !has(&["NOT", "VALID"]),
            _ => false,
        };
        refuse.then(|| unsupported(ADD_CONSTRAINT))
    }

    /// `ADD [COLUMN] name type`: an unsupported type, or anything but NULL and STORAGE
    /// after the type.
    fn add_column_refusal(&self, k: usize, b: usize) -> Option<Statement> {
        let type_end = self.type_end(k + 1, b);
        if let Some(refusal) = self.type_refusal(k + 1, type_end) {
            return Some(refusal);
        }
        let mut i = type_end;
        while i < b {
            match self.word(i) {
                Some("NULL") => i += 1,
                Some("STORAGE") => i += 2,
                Some("COLLATE") => return Some(unsupported(ADD_COLUMN_COLLATE)),
                _ => return Some(unsupported(ADD_COLUMN_CONSTRAINT)),
            }
        }
        None
    }

    fn drop(&self) -> Statement {
        match self.word(1) {
            Some("DATABASE") => unsupported(DROP_DATABASE),
            Some("TYPE") => unsupported(DROP_TYPE),
            _ => Statement::Ddl,
        }
    }
}

fn cache_allowed(cache: Option<u64>) -> bool {
    matches!(cache, Some(n) if n == 1 || n >= 65_536)
}

/// A type's name as PostgreSQL displays it (and DSQL's refusals carry it).
fn canonical_type(name: &str) -> &str {
    match name {
        "int" | "int4" | "integer" => "integer",
        "int2" | "smallint" => "smallint",
        "int8" | "bigint" => "bigint",
        "float4" | "real" => "real",
        "float" | "float8" | "double precision" => "double precision",
        "bool" | "boolean" => "boolean",
        "varchar" | "character varying" | "char varying" => "character varying",
        "char" | "bpchar" | "character" => "character",
        "varbit" | "bit varying" => "bit varying",
        "decimal" | "dec" | "numeric" => "numeric",
        "timestamptz" => "timestamp with time zone",
        "timetz" => "time with time zone",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(sql: &str) -> (&'static str, String) {
        match classify(sql) {
            Statement::Refused(Refusal { sqlstate, message }) => (sqlstate, message),
            other => panic!("{sql:?} was not refused: {other:?}"),
        }
    }

    fn assert_refused(cases: &[(&str, &str, &str)]) {
        for (sql, sqlstate, message) in cases {
            assert_eq!(refusal(sql), (*sqlstate, message.to_string()), "{sql}");
        }
    }

    fn assert_class(cases: &[(&str, Statement)]) {
        for (sql, expected) in cases {
            assert_eq!(&classify(sql), expected, "{sql}");
        }
    }

    #[test]
    fn refuses_unsupported_statements_as_dsql() {
        let na = FEATURE_NOT_SUPPORTED;
        assert_refused(&[
            ("TRUNCATE accounts", na, "unsupported statement: Truncate"),
            // The local front's own refusals (it does not relay these).
            ("COPY t (a, b) FROM STDIN", na, COPY_FROM_STDIN),
            ("COMMIT AND CHAIN", na, AND_CHAIN),
            ("rollback work and chain", na, AND_CHAIN),
            ("truncate table a, b cascade", na, "unsupported statement: Truncate"),
            ("CREATE TEMP TABLE t (id int)", na, TEMP_TABLE),
            ("CREATE TEMPORARY TABLE t (id int)", na, TEMP_TABLE),
            ("create global temporary table t (id int)", na, TEMP_TABLE),
            ("CREATE UNLOGGED TABLE t (id int)", na, UNLOGGED_TABLE),
            ("CREATE TEMP VIEW v AS SELECT 1", na, TEMP_OBJECT),
            ("CREATE TRIGGER trg AFTER INSERT ON t EXECUTE FUNCTION f()", na, "CREATE TRIGGER not supported"),
            ("CREATE OR REPLACE TRIGGER trg BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()", na, TRIGGER),
            ("CREATE CONSTRAINT TRIGGER trg AFTER INSERT ON t EXECUTE FUNCTION f()", na, TRIGGER),
            ("CREATE EVENT TRIGGER et ON ddl_command_start EXECUTE FUNCTION f()", na, EVENT_TRIGGER),
            ("CREATE EXTENSION IF NOT EXISTS pgcrypto", na, "unsupported statement: CreateExtension"),
            ("SAVEPOINT sp", na, "unsupported transaction statement: SAVEPOINT"),
            ("RELEASE SAVEPOINT sp", na, "unsupported transaction statement: RELEASE"),
            ("RELEASE sp", na, RELEASE),
            ("ROLLBACK TO SAVEPOINT sp", na, "unsupported transaction statement: ROLLBACK TO"),
            ("ROLLBACK TO sp", na, ROLLBACK_TO),
            ("rollback work to savepoint sp", na, ROLLBACK_TO),
            ("VACUUM accounts", na, "unsupported VACUUM statement"),
            ("VACUUM (VERBOSE, ANALYZE) accounts", na, VACUUM),
            ("CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x", na, "unsupported statement: CreateTableAs"),
            ("CREATE TABLE t AS SELECT 1 AS x", na, CREATE_TABLE_AS),
            ("CREATE TABLE IF NOT EXISTS t (a, b) AS VALUES (1, 2)", na, CREATE_TABLE_AS),
            ("SELECT 1 AS x INTO t", na, CREATE_TABLE_AS),
            ("SELECT * INTO TEMP t FROM accounts WHERE id IN (SELECT 1)", na, CREATE_TABLE_AS),
            ("CREATE DATABASE other", na, "unsupported statement: Createdb"),
            ("DROP DATABASE IF EXISTS other", na, DROP_DATABASE),
            ("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE", na, LOCK),
            ("LOCK accounts", na, LOCK),
            ("CREATE TABLESPACE ts LOCATION '/tmp/ts'", na, "unsupported statement: CreateTableSpace"),
            ("CREATE FOREIGN TABLE ft (id int) SERVER s", na, FOREIGN_TABLE),
            ("LISTEN chan", na, "unsupported statement: Listen"),
            ("NOTIFY chan, 'payload'", na, "unsupported statement: Notify"),
            ("UNLISTEN *", na, "unsupported statement: Unlisten"),
            ("DO $$ BEGIN PERFORM 1; END $$", na, DO_BLOCK),
            ("ALTER SYSTEM SET work_mem = '4MB'", na, "unsupported statement: AlterSystem"),
            ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", na, MERGE),
            ("PREPARE TRANSACTION 'x'", na, "unsupported transaction statement: PREPARE TRANSACTION"),
            ("COMMIT PREPARED 'x'", na, "unsupported transaction statement: COMMIT PREPARED"),
        ]);
    }

    #[test]
    fn refuses_table_definitions_dsql_lacks() {
        let na = FEATURE_NOT_SUPPORTED;
        assert_refused(&[
            ("CREATE TABLE t (id serial PRIMARY KEY)", "42704", "type \"serial\" does not exist"),
            ("CREATE TABLE t (id BIGSERIAL, v text)", "42704", "type \"bigserial\" does not exist"),
            ("create table t (v text, id smallserial not null)", "42704", "type \"smallserial\" does not exist"),
            (
                "CREATE TABLE m (id int, at date) PARTITION BY RANGE (at)",
                na,
                "PARTITION BY not supported for CREATE TABLE",
            ),
            (
                "CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (1) TO (2)",
                na,
                "PARTITION OF not supported for CREATE TABLE",
            ),
            ("CREATE TABLE c (x int) INHERITS (p)", na, "INHERITS not supported for CREATE TABLE"),
            ("CREATE TABLE t (v money)", na, "datatype money not supported"),
            ("CREATE TABLE t (v varbit(8))", na, "datatype bit varying not supported"),
            ("CREATE TABLE t (v int[])", na, "datatype integer[] not supported"),
            ("CREATE TABLE t (v text ARRAY)", na, "datatype text[] not supported"),
            ("CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)", na, IDENTITY_CACHE),
            ("CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 100))", na, IDENTITY_CACHE),
            (
                "CREATE TABLE t (id integer GENERATED BY DEFAULT AS IDENTITY (CACHE 1) PRIMARY KEY)",
                na,
                "datatype integer not supported, identity column type must be bigint",
            ),
            ("CREATE SEQUENCE s", na, SEQUENCE_CACHE),
            ("CREATE SEQUENCE s CACHE 10", na, SEQUENCE_CACHE),
            ("CREATE TYPE mood AS ENUM ('sad', 'ok')", na, "CREATE TYPE not supported"),
            ("CREATE TYPE pair AS (a int, b int)", na, "unsupported statement: CompositeType"),
            ("CREATE TYPE r AS RANGE (subtype = int4)", na, "unsupported statement: CreateRange"),
            ("ALTER TYPE mood ADD VALUE 'meh'", na, ALTER_TYPE),
            ("ALTER TYPE mood RENAME TO m", na, RENAME_TYPE),
            ("DROP TYPE IF EXISTS mood", na, DROP_TYPE),
            ("ALTER TABLE t ADD COLUMN s serial", "42704", "type \"serial\" does not exist"),
            ("ALTER TABLE t ADD COLUMN m money", na, "datatype money not supported"),
            ("ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 0", na, ADD_COLUMN_CONSTRAINT),
            ("ALTER TABLE t ADD seq integer GENERATED BY DEFAULT AS IDENTITY (CACHE 1)", na, ADD_COLUMN_CONSTRAINT),
            ("ALTER TABLE t ADD COLUMN c text COLLATE \"C\"", na, ADD_COLUMN_COLLATE),
            ("ALTER TABLE t ALTER COLUMN a TYPE varchar(20)", na, ALTER_COLUMN_TYPE),
            ("ALTER TABLE t ALTER a SET DATA TYPE text", na, ALTER_COLUMN_TYPE),
            ("ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY (id)", na, ADD_CONSTRAINT),
            ("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (p) REFERENCES p(id)", na, ADD_CONSTRAINT),
            ("ALTER TABLE t ADD CHECK (a > 0)", na, ADD_CONSTRAINT),
            ("ALTER TABLE t VALIDATE CONSTRAINT fk", na, VALIDATE_CONSTRAINT),
        ]);
    }

    #[test]
    fn refuses_functions_in_other_languages() {
        let na = FEATURE_NOT_SUPPORTED;
        assert_refused(&[
            (
                "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$",
                na,
                "CREATE FUNCTION with language plpgsql not supported",
            ),
            (
                "CREATE OR REPLACE FUNCTION f() RETURNS int AS $body$ SELECT 1 $body$ LANGUAGE 'PLPython3u'",
                na,
                "CREATE FUNCTION with language plpython3u not supported",
            ),
            (
                "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN END $$",
                na,
                "CREATE FUNCTION with language plpgsql not supported",
            ),
        ]);
        assert_class(&[
            ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", Statement::Ddl),
            ("CREATE FUNCTION f() RETURNS int LANGUAGE SQL BEGIN ATOMIC SELECT 1; SELECT 2; END", Statement::Ddl),
            ("CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT ''language plpgsql'''", Statement::Ddl),
        ]);
    }

    #[test]
    fn refuses_indexes_dsql_does_not_build() {
        let na = FEATURE_NOT_SUPPORTED;
        assert_refused(&[
            ("CREATE INDEX i ON t (a)", na, "unsupported mode. please use CREATE INDEX ASYNC."),
            ("CREATE UNIQUE INDEX IF NOT EXISTS i ON public.t (a, b)", na, SYNC_INDEX),
            ("CREATE INDEX ON t (a)", na, SYNC_INDEX),
            ("CREATE INDEX CONCURRENTLY i ON t (a)", na, INDEX_CONCURRENTLY),
            ("CREATE INDEX ASYNC i ON t USING hash (a)", na, INDEX_USING),
            ("CREATE INDEX ASYNC i ON t (a DESC)", na, INDEX_ORDER),
            ("CREATE INDEX ASYNC i ON t (a, b ASC NULLS LAST)", na, INDEX_ORDER),
            ("CREATE INDEX ASYNC i ON t (a, b, c, d, e, f, g, h, k)", "54011", INDEX_KEYS),
            ("CREATE INDEX ASYNC public.i ON t (a)", "42601", "syntax error at or near \".\""),
            ("CREATE INDEX ASYNC IF NOT EXISTS ON t (a)", "42601", "syntax error at or near \"ON\""),
        ]);
    }

    #[test]
    fn refuses_isolation_levels_and_set_transaction() {
        let na = FEATURE_NOT_SUPPORTED;
        assert_refused(&[
            ("BEGIN ISOLATION LEVEL SERIALIZABLE", na, "Unsupported isolation level: SERIALIZABLE"),
            ("START TRANSACTION ISOLATION LEVEL READ COMMITTED", na, "Unsupported isolation level: READ COMMITTED"),
            (
                "begin transaction read only, isolation level read uncommitted",
                na,
                "Unsupported isolation level: READ UNCOMMITTED",
            ),
            ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", na, "Unsupported isolation level: SERIALIZABLE"),
            ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", na, SET_TRANSACTION),
            ("SET TRANSACTION READ ONLY", na, "setting configuration parameter \"TRANSACTION\" not supported"),
            ("SET LOCAL TRANSACTION READ WRITE", na, SET_TRANSACTION),
            (
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
                na,
                "Unsupported isolation level: READ COMMITTED",
            ),
            ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", na, SET_TRANSACTION),
            (
                "SET default_transaction_isolation = 'repeatable read'",
                na,
                "setting configuration parameter \"default_transaction_isolation\" not supported",
            ),
            ("SET transaction_isolation TO 'serializable'", na, "Unsupported isolation level: SERIALIZABLE"),
            ("SET work_mem = '4MB'", na, "setting configuration parameter \"work_mem\" not supported"),
            ("SHOW lc_collate", "42704", "unrecognized configuration parameter \"lc_collate\""),
        ]);
    }

    #[test]
    fn refuses_share_locks_but_not_for_update() {
        let msg = "locking clauses other than FOR UPDATE/FOR KEY SHARE are not supported";
        let na = FEATURE_NOT_SUPPORTED;
        assert_refused(&[
            ("SELECT * FROM t WHERE id = 1 FOR SHARE", na, msg),
            ("SELECT * FROM t FOR NO KEY UPDATE", na, msg),
            ("SELECT * FROM t FOR UPDATE OF t, u FOR SHARE OF u", na, msg),
            ("WITH x AS (SELECT id FROM t WHERE id = 1 FOR SHARE) SELECT * FROM x", na, msg),
            ("SELECT * FROM (SELECT id FROM t) x FOR SHARE SKIP LOCKED", na, msg),
        ]);
        assert_class(&[
            ("SELECT balance FROM accounts WHERE id = $1 FOR UPDATE", Statement::ReadForUpdate),
            ("select * from t for update of t nowait", Statement::ReadForUpdate),
            ("SELECT * FROM t FOR KEY SHARE", Statement::ReadForUpdate),
            ("SELECT 'FOR SHARE', \"for\" FROM t", Statement::Read),
            ("EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", Statement::ReadForUpdate),
        ]);
    }

    #[test]
    fn classifies_the_transfer() {
        let begin = Statement::Begin { isolation: None, read_only: false };
        assert_class(&[
            ("UPDATE accounts SET balance = balance - $1 WHERE id = $2 RETURNING balance", Statement::Write),
            ("INSERT INTO transactions (payer_id, payee_id, amount) VALUES ($1, $2, $3)", Statement::Write),
            ("SELECT balance FROM accounts WHERE id = $1", Statement::Read),
            ("BEGIN", begin.clone()),
            ("COMMIT", Statement::Commit),
            ("ROLLBACK", Statement::Rollback),
            ("begin;", begin),
            (
                "BEGIN ISOLATION LEVEL REPEATABLE READ",
                Statement::Begin { isolation: Some("REPEATABLE READ".into()), read_only: false },
            ),
            ("CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY, balance INT NOT NULL)", Statement::Ddl),
            (
                "CREATE TABLE IF NOT EXISTS transactions (id UUID DEFAULT gen_random_uuid() PRIMARY KEY, \
                 payer_id INT NOT NULL, payee_id INT NOT NULL, amount INT NOT NULL, \
                 created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
                Statement::Ddl,
            ),
            ("INSERT INTO accounts (id, balance) SELECT id, 100 FROM generate_series($1, $2) AS id", Statement::Write),
            ("SELECT status::text, details::text FROM sys.jobs WHERE job_id = $1::text", Statement::Read),
        ]);
    }

    #[test]
    fn classifies_transaction_control() {
        assert_class(&[
            ("START TRANSACTION READ ONLY", Statement::Begin { isolation: None, read_only: true }),
            ("BEGIN WORK READ WRITE", Statement::Begin { isolation: None, read_only: false }),
            (
                "begin transaction isolation level repeatable read, read only",
                Statement::Begin { isolation: Some("REPEATABLE READ".into()), read_only: true },
            ),
            ("END", Statement::Commit),
            ("COMMIT WORK", Statement::Commit),
            ("commit transaction", Statement::Commit),
            ("END TRANSACTION", Statement::Commit),
            ("ABORT", Statement::Rollback),
            ("ROLLBACK WORK", Statement::Rollback),
            ("ROLLBACK AND NO CHAIN", Statement::Rollback),
        ]);
    }

    #[test]
    fn classifies_reads_writes_ddl_and_session() {
        assert_class(&[
            ("VALUES (1), (2)", Statement::Read),
            ("TABLE accounts", Statement::Read),
            ("(SELECT 1) UNION (SELECT 2)", Statement::Read),
            (
                "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT * FROM t",
                Statement::Read,
            ),
            ("WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM x", Statement::Write),
            ("WITH x AS MATERIALIZED (SELECT 1) INSERT INTO t SELECT * FROM x", Statement::Write),
            ("DELETE FROM t WHERE id = 1", Statement::Write),
            ("EXPLAIN UPDATE t SET a = 1", Statement::Read),
            ("EXPLAIN ANALYZE UPDATE t SET a = 1", Statement::Write),
            ("EXPLAIN (ANALYZE false) DELETE FROM t", Statement::Read),
            ("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t", Statement::Write),
            ("EXPLAIN SELECT * FROM t", Statement::Read),
            ("COPY t (a, b) FROM '/tmp/rows.csv'", Statement::Write),
            ("COPY (SELECT a FROM t) TO STDOUT", Statement::Read),
            ("CREATE VIEW v AS SELECT 1 AS x", Statement::Ddl),
            ("CREATE SCHEMA s", Statement::Ddl),
            ("CREATE ROLE app WITH LOGIN", Statement::Ddl),
            ("CREATE SEQUENCE s CACHE 65536", Statement::Ddl),
            ("CREATE SEQUENCE s CACHE 1", Statement::Ddl),
            ("CREATE DOMAIN d AS int", Statement::Ddl),
            ("CREATE TABLE t (id bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 1) PRIMARY KEY)", Statement::Ddl),
            ("CREATE TABLE t (a numeric(18, 6), b double precision, CONSTRAINT pk PRIMARY KEY (a))", Statement::Ddl),
            ("ALTER TABLE t ADD COLUMN c text", Statement::Ddl),
            ("ALTER TABLE t ADD COLUMN d text STORAGE PLAIN", Statement::Ddl),
            ("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (p) REFERENCES p(id) NOT VALID", Statement::Ddl),
            ("ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX i", Statement::Ddl),
            ("ALTER TABLE ASYNC t VALIDATE CONSTRAINT fk", Statement::Ddl),
            ("ALTER TABLE t DROP COLUMN b", Statement::Ddl),
            ("DROP TABLE t", Statement::Ddl),
            ("DROP INDEX i", Statement::Ddl),
            ("GRANT SELECT ON accounts TO app", Statement::Ddl),
            ("REVOKE ALL ON accounts FROM app", Statement::Ddl),
            ("COMMENT ON TABLE t IS 'x'", Statement::Ddl),
            ("SET search_path TO public, other", Statement::Session),
            ("SET TIME ZONE 'UTC'", Statement::Session),
            ("SET statement_timeout TO DEFAULT", Statement::Session),
            ("RESET ALL", Statement::Session),
            ("DISCARD ALL", Statement::Session),
            ("DEALLOCATE ALL", Statement::Session),
            ("SHOW transaction_isolation", Statement::Session),
            ("ANALYZE accounts", Statement::Session),
        ]);
    }

    #[test]
    fn comments_and_literals_do_not_fool_it() {
        assert_class(&[
            ("SELECT 'TRUNCATE'", Statement::Read),
            ("/* vacuum */ SELECT 1", Statement::Read),
            ("/* nested /* drop database x */ still comment */ SELECT 1", Statement::Read),
            ("-- drop database x\nSELECT 1", Statement::Read),
            ("SELECT $x$ ; $x$", Statement::Read),
            ("SELECT $$ TRUNCATE t; $$", Statement::Read),
            ("SELECT E'it\\'s; TRUNCATE t'", Statement::Read),
            ("SELECT 'a''; DROP TABLE t; --'", Statement::Read),
            ("SELECT * FROM \"truncate\"", Statement::Read),
            ("SELECT a-- comment\nFROM t", Statement::Read),
            ("SELECT 1 FROM t WHERE x = 'FOR UPDATE'", Statement::Read),
            ("", Statement::Empty),
            ("  -- only\n /* comments */ ", Statement::Empty),
            (";", Statement::Empty),
        ]);
        assert_eq!(refusal("SELECT 1; TRUNCATE t"), ("42601", MULTIPLE_COMMANDS.to_string()));
    }

    #[test]
    fn parses_async_indexes() {
        assert_class(&[
            (
                "CREATE UNIQUE INDEX ASYNC IF NOT EXISTS idx ON public.t (a, b NULLS FIRST) INCLUDE (c)",
                Statement::AsyncIndex {
                    unique: true,
                    if_not_exists: true,
                    name: "idx".into(),
                    table: "public.t".into(),
                    columns: vec!["a".into(), "b NULLS FIRST".into()],
                    rest: "INCLUDE (c)".into(),
                },
            ),
            (
                "CREATE INDEX ASYNC IF NOT EXISTS idx_transactions_payer ON transactions (payer_id, created_at)",
                Statement::AsyncIndex {
                    unique: false,
                    if_not_exists: true,
                    name: "idx_transactions_payer".into(),
                    table: "transactions".into(),
                    columns: vec!["payer_id".into(), "created_at".into()],
                    rest: String::new(),
                },
            ),
            (
                "create index async on \"My\".\"T\" ((lower(v))) where v <> '' ;",
                Statement::AsyncIndex {
                    unique: false,
                    if_not_exists: false,
                    name: String::new(),
                    table: "\"My\".\"T\"".into(),
                    columns: vec!["(lower(v))".into()],
                    rest: "where v <> ''".into(),
                },
            ),
            (
                "CREATE UNIQUE INDEX ASYNC u ON t (v) NULLS NOT DISTINCT",
                Statement::AsyncIndex {
                    unique: true,
                    if_not_exists: false,
                    name: "u".into(),
                    table: "t".into(),
                    columns: vec!["v".into()],
                    rest: "NULLS NOT DISTINCT".into(),
                },
            ),
        ]);
    }

    #[test]
    fn parses_iam_grants_and_wait_for_job() {
        let arn = "arn:aws:iam::123456789012:role/app";
        assert_class(&[
            (
                "AWS IAM GRANT myapp TO 'arn:aws:iam::123456789012:role/app'",
                Statement::IamGrant { role: "myapp".into(), arn: arn.into() },
            ),
            (
                "aws iam revoke \"MyApp\" from 'arn:aws:iam::123456789012:role/app';",
                Statement::IamRevoke { role: "MyApp".into(), arn: arn.into() },
            ),
            ("AWS IAM GRANT MyApp TO 'x'", Statement::IamGrant { role: "myapp".into(), arn: "x".into() }),
            ("CALL sys.wait_for_job('ab12''x')", Statement::WaitForJob { job_id: "ab12'x".into() }),
            ("call SYS.WAIT_FOR_JOB($1)", Statement::WaitForJob { job_id: "$1".into() }),
            ("CALL other.proc(1)", Statement::Write),
        ]);
        assert_refused(&[
            ("AWS IAM GRANT myapp FROM 'x'", "42601", "syntax error at or near \"FROM\""),
            ("AWS IAM GRANT myapp TO", "42601", "syntax error at end of input"),
            ("SELECT sys.wait_for_job('x')", "42809", WAIT_FOR_JOB_SELECT),
            ("CALL sys.wait_for_job((SELECT job_id FROM sys.jobs LIMIT 1))", "0A000", CALL_SUBQUERY),
        ]);
    }

    #[test]
    fn splits_at_top_level_semicolons() {
        assert_eq!(split("BEGIN; UPDATE t SET a=';'; COMMIT"), ["BEGIN", "UPDATE t SET a=';'", "COMMIT"]);
        assert_eq!(split("SELECT 1;; SELECT 2; -- the end"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(split("SELECT $x$ ; $x$"), ["SELECT $x$ ; $x$"]);
        assert_eq!(
            split("SELECT \"a;b\" FROM t /* ; */; SELECT E'\\';'"),
            ["SELECT \"a;b\" FROM t /* ; */", "SELECT E'\\';'"]
        );
        assert_eq!(
            split("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END; SELECT f()"),
            ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END", "SELECT f()"]
        );
        assert!(split("").is_empty());
        assert!(split("  ; -- nothing").is_empty());
        assert_eq!(split("SELECT 'unterminated; x"), ["SELECT 'unterminated; x"]);
    }

    #[test]
    fn lexes_odd_input_without_panicking() {
        for sql in ["'", "E'\\", "\"", "$", "$a", "$a$ x", "/*", "--", "1e-", ".5", "é;ü", "SELECT 'é''ü'", "U&'x'"]
        {
            let _ = classify(sql);
            let _ = split(sql);
        }
        assert_eq!(classify("SELECT 1.5e-3, .5, x'1F'"), Statement::Read);
    }
}
