-- Run by `harness run --reset` (and `harness setup --reset --scenario ...`) before the
-- loads. On DSQL a transaction may change at most 3,000 rows: bound larger deletes.
UPDATE accounts SET balance = 100 WHERE balance <> 100;
DELETE FROM transactions;
