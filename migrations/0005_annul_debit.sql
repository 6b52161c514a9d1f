-- 0005: annulments and additional debits (issue 13).
--
-- Both are money movements on a paid payment with exactly a refund's life:
-- committed "sending" before the provider is asked, then done, failed or
-- unknown; one Idempotency-Key each; none begins while another of the
-- payment is sending or unknown; each done one has its own provider
-- reference and its own receipt-file post. So they are rows of refunds,
-- told apart by kind:
--   refund  gives back what was captured (Resurs creditPayment)
--   annul   releases what was authorized and not yet captured (annulPayment)
--   debit   adds rows to the payment (additionalDebitOfPayment); rows_json
--           holds them as the API received them.
-- A refund or annulment counts against what the payment took, debits
-- included once done.
ALTER TABLE refunds ADD COLUMN kind TEXT NOT NULL DEFAULT 'refund' CHECK (kind IN ('refund', 'annul', 'debit'));
ALTER TABLE refunds ADD COLUMN rows_json TEXT NOT NULL DEFAULT '';
