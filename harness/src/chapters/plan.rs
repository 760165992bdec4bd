//! Reading a query plan, DSQL's or PostgreSQL's: does the payer query use the
//! `(payer_id, created_at)` index?

/// The query chapter 6 explains: a payer's latest transfers.
pub const PAYER_QUERY: &str =
    "SELECT id, payee_id, amount, created_at FROM transactions WHERE payer_id = 1 ORDER BY created_at DESC LIMIT 10";

/// True when a plan reads the payer index: PostgreSQL's `Index Scan [Backward] using
/// idx`, `Index Only Scan using idx` or `Bitmap Index Scan on idx`, and DSQL's
/// `Index Scan using idx`, `Storage Scan on idx` or `B-Tree Scan on idx`. A full scan
/// of the table (`Seq Scan`, `Full Scan (btree-table)`) is not.
pub fn uses_payer_index(plan: &str) -> bool {
    const INDEX: &str = "idx_transactions_payer";
    plan.lines().any(|line| {
        line.contains(INDEX)
            && ["Index Scan", "Index Only Scan", "Bitmap Index Scan", "Storage Scan", "B-Tree Scan"]
                .iter()
                .any(|node| line.contains(node))
    })
}

#[cfg(test)]
mod tests {
    use super::uses_payer_index;

    #[test]
    fn reads_postgresql_and_dsql_plans_alike() {
        let pg = "Limit  (cost=0.29..8.31 rows=1 width=28) (actual time=0.020..0.021 rows=1 loops=1)\n  ->  Index Scan Backward using idx_transactions_payer on transactions  (cost=0.29..8.31 rows=1 width=28)\n        Index Cond: (payer_id = 1)";
        assert!(uses_payer_index(pg));
        let pg_seq = "Limit\n  ->  Sort\n        ->  Seq Scan on transactions\n              Filter: (payer_id = 1)";
        assert!(!uses_payer_index(pg_seq));
        let dsql = "Limit  (actual rows=10 loops=1)\n  ->  Index Scan using idx_transactions_payer on transactions\n        Index Cond: (payer_id = 1)\n        ->  Storage Scan on idx_transactions_payer\n            ->  B-Tree Scan on idx_transactions_payer\n        ->  Storage Lookup on transactions\n            ->  B-Tree Lookup on transactions";
        assert!(uses_payer_index(dsql));
        let dsql_full = "Sort\n  ->  Full Scan (btree-table) on transactions\n        Filters: (payer_id = 1)";
        assert!(!uses_payer_index(dsql_full));
        assert!(uses_payer_index(
            "Bitmap Heap Scan on transactions\n  ->  Bitmap Index Scan on idx_transactions_payer"
        ));
    }
}
