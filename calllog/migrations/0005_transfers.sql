-- Transfers (R4, R11): every transfer an agent started, as a JSON array of
-- {from, to, result, ring_ms, total_ms}; result is completed, no_answer,
-- busy, refused, failed or abandoned.
ALTER TABLE records ADD COLUMN transfers TEXT NOT NULL DEFAULT '[]';
