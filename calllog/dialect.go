package calllog

import (
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
)

// All SQL of the package lives in this file, behind the dialect seam, so a
// second database (PostgreSQL is planned) adds one more dialect value and its
// own migrations without touching the writer, recovery or the readers.

//go:embed migrations/*.sql
var sqliteMigrationFiles embed.FS

// dialect is the SQL and connection setup of one database engine.
type dialect struct {
	// driver is the database/sql driver name.
	driver string
	// dsn builds the data source name for a database path.
	dsn func(path string, readOnly bool) (string, error)
	// migrations holds files named NNNN_description.sql in migrationsDir.
	migrations    fs.FS
	migrationsDir string

	// syncDurable and syncFast are run outside a transaction to switch the
	// writer connection between committing a batch that carries a record
	// (must survive power loss) and an events-only batch (must survive a
	// process crash). Empty when the engine has no such switch.
	syncDurable, syncFast string

	createVersionTable string
	selectVersion      string
	insertVersion      string
	updateVersion      string

	insertJournal   string
	truncateJournal string // deletes journal rows with id below the argument
	clearJournal    string
	selectJournal   string // id, call_id, at_ms, type, data in append order
	hasRecord       string
	insertEvent     string // call_id, seq, at_ms, type, data
	// copyJournalEvent copies journal row ?1 to the events table as the
	// event numbered ?2 of its call.
	copyJournalEvent string
	// insertLateEvent appends an event after the call's last one (call_id,
	// at_ms, type, data), for events that arrive after the record;
	// copyLateJournalEvent does the same for journal row ?1.
	insertLateEvent      string
	copyLateJournalEvent string
	insertRecord         string // must insert nothing when the call already has a record
	// selectCallEvents returns at_ms, type, data of one call in append
	// order: from events once the call is recorded, else from the journal,
	// in one statement so a reader sees one consistent snapshot.
	selectCallEvents string

	selectRecent string
	selectRecord string
	// selectArrived returns the records of calls that arrived in
	// [?1, ?2) (unix ms), of queue ?3 or of every call when ?3 is empty,
	// oldest arrival first (Store.Report).
	selectArrived string
}

// recordColumns is the column list shared by insertRecord and the selects, in
// the order scanRecord and recordRow.args expect.
const recordColumns = `call_id, caller, called, arrival_ms, answer_ms, end_ms,
answer_delay_ms, answer_rings, greeting, digits, prompts, hangup_by,
hangup_reason, disposition, sip_status, queue, queue_position, queue_wait_ms,
queue_result, agent, ring_attempts, talk_ms, ended_by, wrap_up_ms, speech,
hold_count, hold_ms, longest_hold_ms, holds_over_promise, transfers`

var sqliteDialect = dialect{
	driver:        DriverSQLite,
	dsn:           sqliteDSN,
	migrations:    sqliteMigrationFiles,
	migrationsDir: "migrations",

	syncDurable: `PRAGMA synchronous = FULL`,
	syncFast:    `PRAGMA synchronous = NORMAL`,

	createVersionTable: `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`,
	selectVersion:      `SELECT version FROM schema_version LIMIT 1`,
	insertVersion:      `INSERT INTO schema_version (version) VALUES (?)`,
	updateVersion:      `UPDATE schema_version SET version = ?`,

	insertJournal:   `INSERT INTO journal (call_id, at_ms, type, data) VALUES (?, ?, ?, ?)`,
	truncateJournal: `DELETE FROM journal WHERE id < ?`,
	clearJournal:    `DELETE FROM journal`,
	selectJournal:   `SELECT id, call_id, at_ms, type, data FROM journal ORDER BY id`,
	hasRecord:       `SELECT EXISTS (SELECT 1 FROM records WHERE call_id = ?)`,
	insertEvent:     `INSERT INTO events (call_id, seq, at_ms, type, data) VALUES (?, ?, ?, ?, ?)`,
	copyJournalEvent: `INSERT INTO events (call_id, seq, at_ms, type, data)
SELECT call_id, ?2, at_ms, type, data FROM journal WHERE id = ?1`,
	insertLateEvent: `INSERT INTO events (call_id, seq, at_ms, type, data)
SELECT ?1, COALESCE(MAX(seq) + 1, 0), ?2, ?3, ?4 FROM events WHERE call_id = ?1`,
	copyLateJournalEvent: `INSERT INTO events (call_id, seq, at_ms, type, data)
SELECT j.call_id, (SELECT COALESCE(MAX(e.seq) + 1, 0) FROM events e WHERE e.call_id = j.call_id),
    j.at_ms, j.type, j.data
FROM journal j WHERE j.id = ?1`,
	insertRecord: `INSERT INTO records (` + recordColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (call_id) DO NOTHING`,
	selectCallEvents: `SELECT at_ms, type, data FROM (
    SELECT 0 AS src, seq AS pos, at_ms, type, data FROM events WHERE call_id = ?1
    UNION ALL
    SELECT 1, id, at_ms, type, data FROM journal
    WHERE call_id = ?1 AND NOT EXISTS (SELECT 1 FROM records WHERE call_id = ?1)
) ORDER BY src, pos`,

	selectRecent: `SELECT ` + recordColumns + ` FROM records ORDER BY end_ms DESC, id DESC LIMIT ?`,
	selectRecord: `SELECT ` + recordColumns + ` FROM records WHERE call_id = ?`,
	selectArrived: `SELECT ` + recordColumns + ` FROM records
WHERE arrival_ms >= ?1 AND arrival_ms < ?2 AND (?3 = '' OR queue = ?3)
ORDER BY arrival_ms, id`,
}

// sqliteDSN builds a file: URI so that SQLite's own mode=ro is honoured and
// any character in the path is escaped. The writer connection uses WAL
// (readers in other processes never block it), synchronous=NORMAL and
// BEGIN IMMEDIATE (no lock upgrade deadlocks); every connection waits up to
// five seconds for a lock instead of failing with SQLITE_BUSY.
func sqliteDSN(path string, readOnly bool) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%w: empty database path", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("calllog: database path %q: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String(), nil
}

// dialectFor maps Options.Driver to a dialect; the empty string selects the
// default, SQLite.
func dialectFor(driver string) (*dialect, error) {
	switch driver {
	case DriverSQLite, "":
		return &sqliteDialect, nil
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedDriver, driver)
	}
}
