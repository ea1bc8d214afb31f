package calllog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	// The pure Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"
)

// Store is the call log: a journal of events and one record per call. All
// methods are safe for concurrent use.
type Store struct {
	d         *dialect
	db        *sql.DB
	log       *slog.Logger
	readOnly  bool
	recovered int

	// mu guards closed and every send on queue: senders hold the read lock
	// while sending, so Close (write lock) can close the channel knowing no
	// send is in flight, and nothing sent before Close is lost.
	mu     sync.RWMutex
	closed bool
	queue  chan item

	writerDone chan struct{}
	writerErr  error // set by the writer before closing writerDone

	closeOnce sync.Once
	closeErr  error

	recordsWritten atomic.Uint64
	eventsWritten  atomic.Uint64
	writeErrors    atomic.Uint64
}

// item is one entry of the writer queue: an event, or a request (record or
// flush) whose result the sender waits for.
type item struct {
	ev  eventRow
	req *request
}

// request is a record to write, or a flush marker when rec is nil.
type request struct {
	rec  *recordRow
	done chan error // buffered, receives exactly one result
	err  error      // per-record outcome inside the current attempt
}

// Open creates/migrates the database, recovers interrupted calls (see
// RecoveredCount) and starts the writer.
func Open(ctx context.Context, opts Options) (*Store, error) {
	d, err := dialectFor(opts.Driver)
	if err != nil {
		return nil, err
	}
	dsn, err := d.dsn(opts.Path, false)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	queueSize := opts.QueueSize
	if queueSize <= 0 {
		queueSize = DefaultQueueSize
	}

	db, err := sql.Open(d.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("calllog: open %s: %w", opts.Path, err)
	}
	// The writer keeps one connection for its lifetime; readers use the
	// rest of the pool.
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("calllog: open %s: %w", opts.Path, err)
	}
	fail := func(err error) (*Store, error) {
		_ = conn.Close()
		_ = db.Close()
		return nil, err
	}
	applied, err := migrate(ctx, conn, d)
	if err != nil {
		return fail(fmt.Errorf("calllog: open %s: %w", opts.Path, err))
	}
	if applied > 0 {
		log.Info("call log schema migrated", "path", opts.Path, "migrations", applied)
	}
	recovered, err := recoverInterrupted(ctx, conn, d, log)
	if err != nil {
		return fail(fmt.Errorf("calllog: open %s: %w", opts.Path, err))
	}

	s := &Store{
		d:          d,
		db:         db,
		log:        log,
		recovered:  recovered,
		queue:      make(chan item, queueSize),
		writerDone: make(chan struct{}),
	}
	w := newWriter(s, conn)
	go w.run()
	return s, nil
}

// OpenReadOnly opens an existing database for listing (no writer, no
// migrations beyond checking the version, no recovery). Used by `hotline
// calls` while a server may be running. A missing file is an error, never
// created. Writes on the returned Store fail with ErrReadOnly.
func OpenReadOnly(ctx context.Context, opts Options) (*Store, error) {
	d, err := dialectFor(opts.Driver)
	if err != nil {
		return nil, err
	}
	dsn, err := d.dsn(opts.Path, true)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := sql.Open(d.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("calllog: open %s read-only: %w", opts.Path, err)
	}
	if err := checkVersion(ctx, db, d); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("calllog: open %s read-only: %w", opts.Path, err)
	}
	return &Store{d: d, db: db, log: log, readOnly: true}, nil
}

// RecoveredCount is how many unfinished calls Open closed as interrupted.
func (s *Store) RecoveredCount() int { return s.recovered }

// AppendEvent queues an event for the journal. Never returns before the event
// is queued; returns ErrClosed after Close. It does no disk I/O: the writer
// goroutine commits the event shortly after, batched with others. If the
// queue is full AppendEvent blocks until there is room, because losing an
// event would leave a call record incomplete (R6).
func (s *Store) AppendEvent(ev Event) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if ev.CallID == "" {
		return fmt.Errorf("%w: event without call ID", ErrInvalid)
	}
	row, err := newEventRow(ev)
	if err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.queue <- item{ev: row}
	return nil
}

// WriteRecord writes the call record durably (after flushing the call's
// queued events). Writing the same CallID twice is an error wrapping
// ErrDuplicate (the first record stands). If ctx ends after the record was
// queued, WriteRecord returns the context's error but the record may still
// be written.
func (s *Store) WriteRecord(ctx context.Context, rec Record) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if rec.CallID == "" {
		return fmt.Errorf("%w: record without call ID", ErrInvalid)
	}
	row, err := newRecordRow(rec)
	if err != nil {
		return err
	}
	req := &request{rec: &row, done: make(chan error, 1)}
	if err := s.send(ctx, req); err != nil {
		return fmt.Errorf("calllog: write record for call %s: %w", rec.CallID, err)
	}
	select {
	case err := <-req.done:
		if err != nil {
			return fmt.Errorf("calllog: write record for call %s: %w", rec.CallID, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("calllog: write record for call %s: %w", rec.CallID, context.Cause(ctx))
	}
}

// Flush waits until every event queued so far is on disk. It reports an
// error if events queued since the previous Flush could not be written.
// After Close it returns nil at once: Close has already flushed.
func (s *Store) Flush(ctx context.Context) error {
	if s.readOnly {
		return nil
	}
	req := &request{done: make(chan error, 1)}
	if err := s.send(ctx, req); err != nil {
		if errors.Is(err, ErrClosed) {
			return nil
		}
		return fmt.Errorf("calllog: flush: %w", err)
	}
	select {
	case err := <-req.done:
		if err != nil {
			return fmt.Errorf("calllog: flush: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("calllog: flush: %w", context.Cause(ctx))
	}
}

// send queues a request, waiting for room until ctx ends.
func (s *Store) send(ctx context.Context, req *request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.queue <- item{req: req}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Close flushes and stops the writer; idempotent. It returns the error of
// any events or records that could not be written since the last Flush.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		if !s.readOnly {
			close(s.queue)
		}
		s.mu.Unlock()
		var werr error
		if !s.readOnly {
			<-s.writerDone
			werr = s.writerErr
		}
		s.closeErr = errors.Join(werr, s.db.Close())
	})
	return s.closeErr
}

// Stats for metrics: records written, events written, write errors, queue
// depth.
func (s *Store) Stats() Stats {
	return Stats{
		RecordsWritten: s.recordsWritten.Load(),
		EventsWritten:  s.eventsWritten.Load(),
		WriteErrors:    s.writeErrors.Load(),
		QueueDepth:     len(s.queue),
	}
}

// isClosed reports whether Close has been called.
func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// Recent returns the newest n records (by End, newest first). n <= 0 yields
// no records. Records written in the same millisecond are ordered newest
// written first.
func (s *Store) Recent(ctx context.Context, n int) ([]Record, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if n <= 0 {
		return []Record{}, nil
	}
	rows, err := s.db.QueryContext(ctx, s.d.selectRecent, n)
	if err != nil {
		return nil, fmt.Errorf("calllog: recent: %w", err)
	}
	defer rows.Close()
	recs := make([]Record, 0, min(n, 1024))
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("calllog: recent: %w", err)
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("calllog: recent: %w", err)
	}
	return recs, nil
}

// Get returns one record; ErrNotFound if none.
func (s *Store) Get(ctx context.Context, callID string) (Record, error) {
	if s.isClosed() {
		return Record{}, ErrClosed
	}
	rec, err := scanRecord(s.db.QueryRowContext(ctx, s.d.selectRecord, callID))
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("calllog: get call %s: %w", callID, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("calllog: get call %s: %w", callID, err)
	}
	return rec, nil
}

// Events returns a call's events in order (the order they were appended);
// empty if the call has none. Events still in the queue are not included:
// Flush first to see them. For a call in progress this scans the journal,
// which is meant for inspection, not for a hot path.
func (s *Store) Events(ctx context.Context, callID string) ([]Event, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	evs, err := queryEvents(ctx, s.db, s.d, callID)
	if err != nil {
		return nil, fmt.Errorf("calllog: events of call %s: %w", callID, err)
	}
	return evs, nil
}

// querier is the part of *sql.DB, *sql.Conn and *sql.Tx that reading needs.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryEvents(ctx context.Context, q querier, d *dialect, callID string) ([]Event, error) {
	rows, err := q.QueryContext(ctx, d.selectCallEvents, callID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []Event
	for rows.Next() {
		var (
			atMs int64
			typ  string
			data sql.NullString
		)
		if err := rows.Scan(&atMs, &typ, &data); err != nil {
			return nil, err
		}
		evs = append(evs, Event{CallID: callID, At: fromMillis(atMs), Type: typ, Data: decodeData(data)})
	}
	return evs, rows.Err()
}
