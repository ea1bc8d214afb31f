-- Holds (R3): how many times the agent held the caller, for how long in
-- all and at most, and how many holds passed their promised time.
ALTER TABLE records ADD COLUMN hold_count         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN hold_ms            INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN longest_hold_ms    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN holds_over_promise INTEGER NOT NULL DEFAULT 0;
