// Package calllog owns the call records and the per-call event journal.
//
// Every step of a call is an [Event] (arrival, ringing, answered, prompts,
// DTMF, hangup, ...) journaled as it happens, and once the caller's leg has
// ended exactly one [Record] is written for the call (rules R6 and R7).
// Because events reach the database before the record, a crash loses
// nothing: on [Open], calls that have journaled events but no record are
// closed with disposition "interrupted" (see [Store.RecoveredCount]).
//
// # Writing
//
// All writes go through one background writer goroutine that owns the only
// writing database connection. It batches every queued item into a single
// transaction, so thousands of calls cost a handful of commits per second
// and a call goroutine never waits for disk I/O in [Store.AppendEvent]. The
// queue is bounded ([Options.QueueSize]); when it is full AppendEvent blocks
// until the writer catches up instead of dropping events, because a lost
// event would make a call record incomplete (R6). Records travel through the
// same FIFO queue, so every event appended for a call before
// [Store.WriteRecord] is committed before, or in the same transaction as,
// its record.
//
// SQLite runs in WAL mode with synchronous=NORMAL, which makes every commit
// safe against a crash of the process. Batches that carry a record are
// committed with synchronous=FULL so that a record is also safe against a
// power loss once WriteRecord returns. WAL mode lets another process (the
// `hotline calls` command, through [OpenReadOnly]) read while the server
// writes. Only one writing [Store] may use a database file at a time:
// recovery on Open treats every call without a record as interrupted.
//
// # Storage
//
// While a call is in progress its events go to an append-only journal table;
// the writer keeps only their row numbers, 8 bytes an event. The
// transaction that writes the call's record also copies all of its events
// from the journal to the events table in one piece (each row found by its
// number: no scan), then cuts the journal from its head up to the oldest
// call still in progress. Appending to a table without a
// secondary index touches only its last page, and a call's events end up
// together on disk; indexing every event by call as it arrives would
// instead dirty one page per event once thousands of calls interleave
// (measured: 18 times the bytes written). A call whose record is never
// written holds the journal cut back until the next Open recovers it.
//
// Times are stored as UTC unix milliseconds, so values round-trip at
// millisecond precision and come back in UTC. Record prompts are stored as a
// JSON array and event data as a JSON object. All SQL lives in dialect.go
// behind a small dialect seam; SQLite (modernc.org/sqlite, pure Go) is the
// only dialect implemented. The schema is created and upgraded by the
// embedded migrations in migrations/, tracked in the schema_version table.
//
// # Privacy
//
// Caller numbers are data (R12): they are stored and returned, but this
// package logs call IDs only, and [WriteTable] masks caller numbers down to
// their last four characters.
//
// The package knows nothing about SIP or media; callers translate their
// protocol outcomes into the strings and status codes of a [Record].
package calllog
