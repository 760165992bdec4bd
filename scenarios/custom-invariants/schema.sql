-- The built-in transfer's tables, as a scenario of your own would create them. Each
-- statement runs in its own transaction (DSQL allows one DDL statement per transaction
-- and no DDL mixed with DML), and set-up runs again before every run: keep every
-- statement safe to repeat (IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY, balance INT NOT NULL);

CREATE TABLE IF NOT EXISTS transactions (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
    payer_id INT NOT NULL,
    payee_id INT NOT NULL,
    amount INT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
