-- Call records (R6): exactly one row per call, written after the caller's
-- leg has ended. Times are UTC unix milliseconds.
CREATE TABLE records (
    id              INTEGER PRIMARY KEY,
    call_id         TEXT    NOT NULL UNIQUE,
    caller          TEXT    NOT NULL,
    called          TEXT    NOT NULL,
    arrival_ms      INTEGER NOT NULL,
    answer_ms       INTEGER,            -- NULL when never answered
    end_ms          INTEGER NOT NULL,
    answer_delay_ms INTEGER NOT NULL,
    answer_rings    INTEGER NOT NULL,
    greeting        TEXT    NOT NULL,
    digits          TEXT    NOT NULL,
    prompts         TEXT    NOT NULL,   -- JSON array of prompt IDs
    hangup_by       TEXT    NOT NULL,
    hangup_reason   TEXT    NOT NULL,
    disposition     TEXT    NOT NULL,
    sip_status      INTEGER NOT NULL
);

-- Recent() lists by end time, newest first.
CREATE INDEX records_end ON records (end_ms);

-- Every event of every recorded call, in append order (seq from 0). A
-- call's events are written together with its record, so they are
-- contiguous on disk: one or two pages per call instead of one page per
-- event, which is what an index on call_id costs when thousands of calls
-- append at once.
CREATE TABLE events (
    call_id TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    at_ms   INTEGER NOT NULL,
    type    TEXT    NOT NULL,
    data    TEXT,                       -- JSON object, NULL when empty
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;

-- The crash journal: events of calls still in progress, appended as they
-- happen. It has no secondary index, so an append only touches the last
-- page. Rows of recorded calls are deleted from the head once no call in
-- progress is older; after a crash, Open turns the calls left here without
-- a record into interrupted records.
CREATE TABLE journal (
    id      INTEGER PRIMARY KEY,
    call_id TEXT    NOT NULL,
    at_ms   INTEGER NOT NULL,
    type    TEXT    NOT NULL,
    data    TEXT                        -- JSON object, NULL when empty
);
