//! `[data]`'s own schema, loads and values, and `[[verify]]`: parsed, and refused with
//! the file, line and column.

use super::*;
use crate::invariants::{Expect, Query};

/// The scenario `text`, with a `[load]` after it.
fn plan(text: &str) -> Result<Plan, String> {
    let text = format!("{text}\n{LOAD}");
    parse("s.toml", &text, &Overrides::default()).map_err(|e| e.to_string())
}

const LOAD: &str = "[load]\nmodel = \"batches\"\nparallel = 1\nbatches = 1\n";

const STOCK: &str = r#"
[data]
[data.values]
stock = 100
items = 2500

[[data.load]]
sql = "INSERT INTO items (id, stock) SELECT g, 100 FROM generate_series($1::int, $2::int) g"
rows = "items"

[[verify]]
name = "stock never negative"
sql = "SELECT min(stock) FROM items"
at_least = 0

[[verify]]
name = "reservations"
sql = "SELECT count(*) FROM reservations"
between = ["before + successes", "before + (successes + unknown)"]
"#;

#[test]
fn values_loads_and_invariants() {
    let p = plan(STOCK).unwrap();
    assert_eq!(p.data_setup.values, [("items".to_string(), 2500), ("stock".to_string(), 100)].into());
    assert_eq!(p.data_setup.loads, [LoadSpec { sql: p.data_setup.loads[0].sql.clone(), rows: 2500, batch: 1000 }]);
    assert!(p.data_setup.is_custom() && p.data_setup.setup.is_none());
    assert_eq!(p.data_setup.values(p.data)["accounts"], 1000);
    assert_eq!(p.verify.len(), 2);
    assert_eq!(p.verify[0].query, Query::Sql("SELECT min(stock) FROM items".into()));
    assert!(matches!(&p.verify[0].expect, Expect::AtLeast(e) if e.text() == "0"));
    assert!(matches!(&p.verify[1].expect, Expect::Between(lo, hi)
        if lo.text() == "before + successes" && hi.text() == "before + (successes + unknown)"));
    assert_eq!(p.verify[1].needs_run(), ["before", "successes", "unknown"]);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), p, "the plan travels in summary.json");
}

#[test]
fn expressions_and_names_are_checked_where_written() {
    let bound = |b: &str| plan(&format!("[[verify]]\nname = \"x\"\nsql = \"SELECT 1\"\n{b}\n")).unwrap_err();
    assert_eq!(
        bound("equals = \"accounts * stok\""),
        "s.toml:4:22: verify \"x\": equals: unknown name \"stok\" in \"accounts * stok\" (known: accounts, \
         initial_balance, calls, successes, failures, unknown, before)"
    );
    assert_eq!(
        bound("at_most = \"1 +\""),
        "s.toml:4:15: verify \"x\": at_most: the expression ends too early in \"1 +\""
    );
    assert_eq!(
        bound("at_least = \"calls / 2\""),
        "s.toml:4:19: verify \"x\": at_least: no division: only + - * and parentheses in \"calls / 2\""
    );
    assert_eq!(bound("between = [1]"), "s.toml:4:11: verify \"x\": between takes [lo, hi], got 1 values");
    assert_eq!(
        bound("equals = 1\nat_most = 2"),
        "s.toml:1:1: verify \"x\": give exactly one of equals, at_least, at_most, between = [lo, hi]"
    );
    assert!(bound("equals = 1\nwhere = 2").starts_with("s.toml:5:1: unknown field `where`"), "{}", bound("where = 2"));
    let twice = plan("[[verify]]\nname = \"a\"\nsql = \"SELECT 1\"\nequals = 1\n[[verify]]\nname = \"a\"\nsql = \"SELECT 2\"\nequals = 2\n");
    assert_eq!(twice.unwrap_err(), "s.toml:6:8: verify.name \"a\" is used twice; each invariant needs its own");
}

#[test]
fn data_keys_are_checked_where_written() {
    let load = |extra: &str| plan(&format!("[[data.load]]\nsql = \"SELECT $1::int, $2::int\"\n{extra}\n"));
    assert_eq!(
        load("rows = 10\nbatch = 3001").unwrap_err(),
        "s.toml:4:9: data.load.batch must be between 1 and 3000 (DSQL refuses transactions over 3000 mutated rows), \
         got 3001"
    );
    assert_eq!(
        load("rows = \"itemz\"").unwrap_err(),
        "s.toml:3:8: data.load.rows: no value named \"itemz\" (known: accounts, initial_balance)"
    );
    assert_eq!(load("rows = 0").unwrap_err(), "s.toml:3:8: data.load.rows must be at least 1, got 0");
    assert_eq!(load("rows = \"accounts\"").unwrap().data_setup.loads[0].rows, 1000);
    let no_params = plan("[[data.load]]\nsql = \"INSERT INTO t VALUES (1)\"\nrows = 1\n").unwrap_err();
    assert!(no_params.starts_with("s.toml:2:7: data.load.sql must use $1 and $2"), "{no_params}");
    let reserved = plan("[data.values]\nsuccesses = 3\n").unwrap_err();
    assert!(reserved.starts_with("s.toml:2:13: data.values: \"successes\" is reserved"), "{reserved}");
    let alone = plan("[data]\nreset = \"reset.sql\"\n").unwrap_err();
    assert!(alone.starts_with("s.toml:2:9: data.reset goes with data.setup or [[data.load]]"), "{alone}");
    let missing = plan("[data]\nsetup = \"no-such-file.sql\"\n").unwrap_err();
    assert!(missing.starts_with("s.toml:2:9: cannot read no-such-file.sql:"), "{missing}");
}

#[test]
fn setup_files_are_read_relative_to_the_scenario_and_split_into_statements() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "-- the schema; one DDL per transaction\nCREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, \
               note TEXT DEFAULT 'a;b');\n/* ; */ CREATE INDEX IF NOT EXISTS i ON t (id);\n\
               DO $body$ BEGIN PERFORM 1; END $body$;\n-- trailing comment\n";
    std::fs::write(dir.path().join("schema.sql"), sql).unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, format!("[data]\nsetup = \"schema.sql\"\n{LOAD}")).unwrap();
    let p = load(&scenario, &Overrides::default()).unwrap();
    let setup = p.data_setup.setup.unwrap();
    assert_eq!(setup.path, dir.path().join("schema.sql").display().to_string());
    assert_eq!(
        setup.statements,
        [
            "CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, note TEXT DEFAULT 'a;b')",
            "CREATE INDEX IF NOT EXISTS i ON t (id)",
            "DO $body$ BEGIN PERFORM 1; END $body$",
        ]
    );
    assert_eq!(data_section::split_statements("-- nothing\n;;  \n"), Vec::<String>::new());
    assert_eq!(
        data_section::split_statements("SELECT $1, 'it''s;' FROM \"a;b\""),
        ["SELECT $1, 'it''s;' FROM \"a;b\""]
    );
}

#[test]
fn the_example_states_the_builtin_invariants() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/custom-invariants.toml");
    let p = load(Path::new(path), &Overrides::default()).unwrap();
    let names: Vec<&str> = p.verify.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(p.data_setup.setup.as_ref().is_some_and(|s| s.statements.len() >= 2));
    assert!(p.data_setup.reset.is_some() && p.data_setup.loads.len() == 1);
}
