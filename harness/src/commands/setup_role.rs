//! `harness setup-role`: the application role and its IAM mapping.

use std::process::ExitCode;

use crate::cli::SetupRoleArgs;

/// The application role, its grants and its IAM mapping; then the mappings.
pub async fn run(args: SetupRoleArgs) -> anyhow::Result<ExitCode> {
    let db = args.db.target().await?;
    let client = db.connect().await?;
    let mappings = crate::roles::setup(&client, db.dialect(), &args.role, &args.arn).await?;
    println!("role {} may log in and use the tables; IAM role mappings:", args.role);
    for (role, arn) in mappings {
        println!("  {role:<16} {arn}");
    }
    Ok(ExitCode::SUCCESS)
}
