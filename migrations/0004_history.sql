-- 0004: history at scale (issue 9 item 1, issue 11 items 8 and 10).
--
-- Lists page with a keyset cursor on (created_at, id), filtered by state,
-- provider or sale id: each filter gets an index that ends in the cursor's
-- columns, so a page reads its rows in order and stops, whatever the history.
-- payments_state is replaced by its longer form (the state prefix serves the
-- queries it served).
CREATE INDEX payments_state_created ON payments (state, created_at, id);
DROP INDEX payments_state;
CREATE INDEX payments_provider_created ON payments (provider, created_at, id);
CREATE INDEX payments_sale_created ON payments (sale_id, created_at, id);
-- q= finds a payment by any of its references without knowing its provider.
CREATE INDEX payments_session_ref ON payments (session_ref) WHERE session_ref IS NOT NULL;
CREATE INDEX payments_transaction_ref ON payments (transaction_ref) WHERE transaction_ref IS NOT NULL;

-- The receipt file's watermark: every payment recorded paid and every refund
-- recorded done by an audit row up to audit_id was confirmed in the receipt
-- file, whose last post then had sequence number journal_seq and reference
-- journal_ref. A start checks only the audit rows after it, unless the file
-- now ends before journal_seq (a torn tail moved aside, a restored backup).
CREATE TABLE journal_watermark (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    audit_id    INTEGER NOT NULL,
    journal_seq INTEGER NOT NULL,
    journal_ref TEXT NOT NULL DEFAULT '',
    at          TEXT NOT NULL
);

-- The period a paid payment was reconciled in, when a report matched it by
-- reference outside the period's own bounds (paid before the mark, recorded
-- after it): the next period leaves it out instead of calling it "only local".
ALTER TABLE payments ADD COLUMN period_id INTEGER REFERENCES periods (id);
