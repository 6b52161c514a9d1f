-- 0001: the register's durable state. Times are UTC text in a fixed-width
-- layout (2006-01-02T15:04:05.000000000Z) so that text order is time order.
-- Amounts are INTEGER minor units (öre), never REAL.

-- The till's SEQR registration: at most one row.
CREATE TABLE terminal (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    terminal_id          TEXT NOT NULL,
    password             TEXT NOT NULL,   -- needed in clear by SEQR; the db file is mode 0600
    seqr_id              TEXT NOT NULL DEFAULT '',
    external_terminal_id TEXT NOT NULL DEFAULT '',
    name                 TEXT NOT NULL DEFAULT '',
    registered_at        TEXT NOT NULL
);

CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    idempotency_key   TEXT NOT NULL UNIQUE,
    request_hash      TEXT NOT NULL,
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
    invoice_reference TEXT,
    ers_reference     TEXT UNIQUE,        -- one payment per SEQR transaction, ever
    poll_window       INTEGER NOT NULL DEFAULT 0,
    window_ends_at    TEXT,
    invoice_version   INTEGER NOT NULL DEFAULT 0,
    poll_count        INTEGER NOT NULL DEFAULT 0,
    outage_since      TEXT,
    decision_deadline TEXT,
    paid_at           TEXT,
    error             TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX payments_state ON payments (state);
CREATE INDEX payments_paid_at ON payments (paid_at) WHERE paid_at IS NOT NULL;

-- Append-only audit of every transition (PCI DSS 10.2.2 fields): never updated or deleted.
CREATE TABLE audit (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id        TEXT REFERENCES payments (id),
    actor             TEXT NOT NULL,     -- cashier id or "posd"
    event             TEXT NOT NULL,
    from_state        TEXT NOT NULL DEFAULT '',
    to_state          TEXT NOT NULL DEFAULT '',
    outcome           TEXT NOT NULL,     -- "success" or "failure: ..."
    invoice_reference TEXT NOT NULL DEFAULT '',
    ers_reference     TEXT NOT NULL DEFAULT '',
    origin            TEXT NOT NULL DEFAULT '',
    detail            TEXT NOT NULL DEFAULT '',
    at                TEXT NOT NULL
);
CREATE INDEX audit_payment ON audit (payment_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

CREATE TABLE refunds (
    id            TEXT PRIMARY KEY,
    payment_id    TEXT NOT NULL REFERENCES payments (id),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    currency      TEXT NOT NULL,
    ers_reference TEXT UNIQUE,
    cashier_id    TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL CHECK (state IN ('sending','done','failed','unknown')),
    error         TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);

-- Calls that must eventually succeed (submitPaymentReceipt), retried with backoff.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    payment_id      TEXT REFERENCES payments (id),
    payload         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    done_at         TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE done_at IS NULL;

-- SEQR transaction periods (reconciliation). Stored at mark time so a crash
-- between mark and report re-reads the same period.
CREATE TABLE periods (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_period_id TEXT NOT NULL UNIQUE,
    period_start          TEXT NOT NULL,
    marked_at             TEXT NOT NULL,
    reported_at           TEXT,
    result_json           TEXT NOT NULL DEFAULT ''
);

CREATE TABLE print_jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id  TEXT REFERENCES payments (id),
    kind        TEXT NOT NULL,
    payload     BLOB NOT NULL,
    copy        INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL CHECK (state IN ('pending','printed','dropped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  TEXT,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    done_at     TEXT
);
CREATE INDEX print_jobs_pending ON print_jobs (id) WHERE state = 'pending';

-- One row rewritten by the storage gate's test write.
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);
