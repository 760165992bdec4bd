//! The application role of the workshop's chapter 2: `CREATE ROLE myapp WITH LOGIN`,
//! grants on the tables, and the IAM mapping (`AWS IAM GRANT myapp TO '<role arn>'`) so
//! that the function's execution role may connect as it with a plain (non-admin) token.
//! On PostgreSQL, which has no IAM, the mapping is kept in a table of the same shape as
//! DSQL's `sys.iam_pg_role_mappings`, so the commands and their output are the same.

use anyhow::Context;
use tokio_postgres::Client;
use transfer::db::Dialect;

/// The statements, one per transaction (DSQL runs one DDL statement per transaction).
pub fn statements(dialect: Dialect, role: &str, arn: &str) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(
        !role.is_empty() && role.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--role {role:?}: use lowercase letters, digits and _"
    );
    anyhow::ensure!(
        arn.starts_with("arn:aws") && arn.contains(":iam::") && !arn.contains('\''),
        "--arn {arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
    );
    let mut out =
        vec![format!("CREATE ROLE {role} WITH LOGIN"), format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")];
    match dialect {
        Dialect::Dsql => out.push(format!("AWS IAM GRANT {role} TO '{arn}'")),
        Dialect::Postgres => {
            out.push(
                "CREATE TABLE IF NOT EXISTS harness_iam_role_mappings (pg_role_name TEXT NOT NULL, arn TEXT NOT NULL, \
                 PRIMARY KEY (pg_role_name, arn))"
                    .to_string(),
            );
            out.push(format!(
                "INSERT INTO harness_iam_role_mappings VALUES ('{role}', '{arn}') ON CONFLICT DO NOTHING"
            ));
        }
    }
    Ok(out)
}

/// Run the statements (a role that exists already is fine) and return the mappings.
pub async fn setup(client: &Client, dialect: Dialect, role: &str, arn: &str) -> anyhow::Result<Vec<(String, String)>> {
    for statement in statements(dialect, role, arn)? {
        match client.batch_execute(&statement).await {
            Ok(()) => {}
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_OBJECT) => {}
            Err(e) => {
                return Err(anyhow::anyhow!(transfer::error::describe_db_error(&e)))
                    .with_context(|| format!("running: {statement}"))
            }
        }
    }
    let table = match dialect {
        Dialect::Dsql => "sys.iam_pg_role_mappings",
        Dialect::Postgres => "harness_iam_role_mappings",
    };
    let rows = client
        .query(&format!("SELECT pg_role_name::text, arn::text FROM {table} ORDER BY 1, 2"), &[])
        .await
        .with_context(|| format!("reading {table}"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsql_gets_the_iam_grant_and_bad_input_is_refused() {
        let arn = "arn:aws:iam::123456789012:role/ReinventDat401-Fn";
        let dsql = statements(Dialect::Dsql, "myapp", arn).unwrap();
        assert_eq!(dsql[0], "CREATE ROLE myapp WITH LOGIN");
        assert_eq!(dsql[2], format!("AWS IAM GRANT myapp TO '{arn}'"));
        let pg = statements(Dialect::Postgres, "myapp", arn).unwrap();
        assert!(pg.iter().all(|s| !s.starts_with("AWS IAM")));
        assert!(statements(Dialect::Dsql, "my app", arn).unwrap_err().to_string().contains("--role"));
        assert!(statements(Dialect::Dsql, "myapp", "arn:aws:iam::1:role/x'; DROP").is_err());
    }
}
