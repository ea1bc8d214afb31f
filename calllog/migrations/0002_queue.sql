-- Queued calls (agents and queues): the queue joined and the position on
-- entry, the wait, how the wait ended, each agent rung (JSON array of
-- {agent, ring_ms, result}), the agent who answered, talk time, and who
-- ended the caller's leg (hangup_by is who hung up first: under R7 the
-- agent may hang up first while the caller still ends the call).
ALTER TABLE records ADD COLUMN queue          TEXT    NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN queue_position INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN queue_wait_ms  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN queue_result   TEXT    NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN agent          TEXT    NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN ring_attempts  TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE records ADD COLUMN talk_ms        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN wrap_up_ms     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN ended_by       TEXT    NOT NULL DEFAULT '';
