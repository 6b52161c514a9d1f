-- posd:foreign_keys=off
-- 0003: one register, many providers. Provider references leave SEQR's
-- names for a neutral form keyed by provider + kind + reference:
--   payments.session_ref      (was invoice_reference: SEQR invoice, Resurs order, Payson checkout)
--   payments.transaction_ref  (was ers_reference: unique per provider, not across providers)
--   refunds.provider_ref      (was ers_reference)
--   periods.period_ref        (was transaction_period_id)
--   audit.session_ref / audit.transaction_ref (renamed; the append-only triggers stay)
-- Every row written before 0003 is SEQR's. Provider-private data has its own
-- column (provider_data), stored verbatim; outbox rows carry their provider.
--
-- payments and refunds are rebuilt (a column constraint cannot be changed in
-- place), so the runner applies this file with foreign keys off and checks
-- them (PRAGMA foreign_key_check) before committing.

CREATE TABLE payments_new (
    id                TEXT PRIMARY KEY,
    idempotency_key   TEXT NOT NULL UNIQUE,
    request_hash      TEXT NOT NULL,
    provider          TEXT NOT NULL,
    method            TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN
                        ('created','polling','awaiting_decision','paid','canceled','failed','unknown')),
    amount            INTEGER NOT NULL CHECK (amount > 0),
    currency          TEXT NOT NULL,
    receipt_total     INTEGER NOT NULL,
    balancing         TEXT NOT NULL CHECK (balancing IN ('none','other','change')),
    sale_id           TEXT NOT NULL DEFAULT '',
    cashier_id        TEXT NOT NULL DEFAULT '',
    title             TEXT NOT NULL DEFAULT '',
    rows_json         TEXT NOT NULL,
    extra_json        TEXT NOT NULL DEFAULT '',   -- customer pre-fill, validUntil: what the provider was asked
    session_ref       TEXT,
    transaction_ref   TEXT,
    method_name       TEXT NOT NULL DEFAULT '',
    provider_data     BLOB,
    customer_view     TEXT NOT NULL DEFAULT '',   -- JSON {url, html} or empty
    poll_window       INTEGER NOT NULL DEFAULT 0,
    window_ends_at    TEXT,
    progress          INTEGER NOT NULL DEFAULT 0,
    poll_count        INTEGER NOT NULL DEFAULT 0,
    outage_since      TEXT,
    decision_deadline TEXT,
    next_check_at     TEXT,                       -- long-lived payments: when to check next
    paid_at           TEXT,
    error             TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (provider, transaction_ref)            -- one payment per provider transaction, ever
);
INSERT INTO payments_new (id, idempotency_key, request_hash, provider, method, state, amount, currency,
    receipt_total, balancing, sale_id, cashier_id, title, rows_json, session_ref, transaction_ref,
    method_name, poll_window, window_ends_at, progress, poll_count, outage_since, decision_deadline,
    paid_at, error, created_at, updated_at)
SELECT id, idempotency_key, request_hash, 'seqr', method, state, amount, currency,
    receipt_total, balancing, sale_id, cashier_id, title, rows_json, invoice_reference, ers_reference,
    CASE WHEN ers_reference IS NULL THEN '' ELSE 'SEQR' END, poll_window, window_ends_at, invoice_version,
    poll_count, outage_since, decision_deadline, paid_at, error, created_at, updated_at
FROM payments;
DROP TABLE payments;
ALTER TABLE payments_new RENAME TO payments;
CREATE INDEX payments_state ON payments (state);
CREATE INDEX payments_paid_at ON payments (paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX payments_created ON payments (created_at, id);
CREATE INDEX payments_session ON payments (provider, session_ref) WHERE session_ref IS NOT NULL;

CREATE TABLE refunds_new (
    id              TEXT PRIMARY KEY,
    payment_id      TEXT NOT NULL REFERENCES payments (id),
    provider        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    provider_ref    TEXT,
    cashier_id      TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ('sending','done','failed','unknown')),
    error           TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash    TEXT NOT NULL DEFAULT '',
    UNIQUE (provider, provider_ref)
);
INSERT INTO refunds_new (id, payment_id, provider, amount, currency, provider_ref, cashier_id, reason,
    state, error, created_at, updated_at, idempotency_key, request_hash)
SELECT id, payment_id, 'seqr', amount, currency, ers_reference, cashier_id, reason,
    state, error, created_at, updated_at, idempotency_key, request_hash
FROM refunds;
DROP TABLE refunds;
ALTER TABLE refunds_new RENAME TO refunds;
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE UNIQUE INDEX refunds_idempotency_key ON refunds (idempotency_key);
CREATE INDEX refunds_state ON refunds (state);

-- The audit table is append-only: renamed in place, never copied, so its
-- triggers and every row stay as they were.
ALTER TABLE audit RENAME COLUMN invoice_reference TO session_ref;
ALTER TABLE audit RENAME COLUMN ers_reference TO transaction_ref;
-- Every row before 0003 is SEQR's (the default); rows written from now on
-- name their provider, or '' for what concerns none.
ALTER TABLE audit ADD COLUMN provider TEXT NOT NULL DEFAULT 'seqr';

ALTER TABLE periods RENAME COLUMN transaction_period_id TO period_ref;
ALTER TABLE periods ADD COLUMN provider TEXT NOT NULL DEFAULT 'seqr';

ALTER TABLE outbox ADD COLUMN provider TEXT NOT NULL DEFAULT 'seqr';

-- The neutral form in one place: every provider reference posd holds, by
-- provider + kind + reference.
CREATE VIEW provider_refs (provider, kind, ref, payment_id, refund_id, period_id) AS
    SELECT provider, 'session', session_ref, id, NULL, NULL FROM payments WHERE session_ref IS NOT NULL
    UNION ALL
    SELECT provider, 'transaction', transaction_ref, id, NULL, NULL FROM payments WHERE transaction_ref IS NOT NULL
    UNION ALL
    SELECT provider, 'refund', provider_ref, payment_id, id, NULL FROM refunds WHERE provider_ref IS NOT NULL
    UNION ALL
    SELECT provider, 'period', period_ref, NULL, NULL, id FROM periods;
