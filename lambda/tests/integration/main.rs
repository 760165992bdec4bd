//! Integration tests of the transfer function against a real PostgreSQL, and of the
//! local Lambda endpoint through the real aws-sdk-lambda client. Every test starts its
//! own throwaway PostgreSQL cluster (see `support`).

mod dsql_dialect;
mod dsql_login;
mod dsql_occ;
mod dsql_support;
mod dsql_token;
mod invoke_api;
mod lifetime;
mod runtime_api;
mod runtime_host;
mod support;
mod transfers;
