-- 0002: refunds carry the Idempotency-Key of the request that made them, so
-- a retried POST /v1/payments/{id}/refunds answers with the same refund and
-- never sends a second refundPayment. Rows from before 0002 have no key
-- (NULL: a UNIQUE index allows any number of NULLs).
ALTER TABLE refunds ADD COLUMN idempotency_key TEXT;
ALTER TABLE refunds ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX refunds_idempotency_key ON refunds (idempotency_key);
-- Refunds whose outcome is open (sending, unknown) are looked up per payment.
CREATE INDEX refunds_state ON refunds (state);
