package calllog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

const (
	// maxBatch bounds one transaction so that a record queued behind a
	// burst of events still commits within a few milliseconds.
	maxBatch = 4096
	// batchWindow is how long the writer gathers events before committing
	// when nobody waits for the result. Every commit rewrites the journal's
	// last page, so committing each event on its own would write a page per
	// event; gathering caps commits at about 100 per second. Records and
	// flushes are committed as soon as the queue is empty.
	batchWindow = 10 * time.Millisecond
	// retryDelay separates the two attempts at a failed batch; a transient
	// failure (a lock held past busy_timeout, a full disk freed by an
	// operator) gets one more chance before its items are counted as lost.
	retryDelay = 200 * time.Millisecond
)

// writer is the single goroutine that owns the writing connection. Keeping
// every write on one goroutine turns many small appends into few large
// transactions and preserves queue order across events and records.
//
// Events of a call in progress go to the append-only journal, and the
// writer remembers their row numbers; the record's transaction copies them
// to the events table in one piece, so each call's events sit together on
// disk. The journal is
// then cut from the head up to the oldest call still in progress.
type writer struct {
	s    *Store
	d    *dialect
	conn *sql.Conn
	log  *slog.Logger

	// open holds the calls in progress: journaled events, no record yet.
	open map[string]*openCall
	// undo journals this batch's changes to open, undone newest first when
	// the batch rolls back.
	undo []undoEntry
	// lastJID is the newest journal row; rows below cut are deleted.
	lastJID, cut int64

	durable bool  // conn currently commits with the durable synchronous setting
	lost    error // items lost since the last flush; reported to the next Flush
}

// openCall is a call in progress as the writer knows it: the journal rows
// of its events, in append order. The record's transaction copies the rows
// to the events table, so the writer holds 8 bytes an event rather than the
// events themselves; thousands of calls are in progress at once.
type openCall struct {
	jids []int64 // jids[0] is the first row, which the journal cut must not pass
}

// openJIDsCap is the room a call's journal rows get at first, so that the
// slice grows once or twice in a call (an answered call journals a dozen
// events or more) rather than from one row up.
const openJIDsCap = 8

// undoEntry restores one call's state in writer.open.
type undoEntry struct {
	callID  string
	prev    *openCall // nil: the call was not open
	prevLen int
}

func newWriter(s *Store, conn *sql.Conn) *writer {
	return &writer{s: s, d: s.d, conn: conn, log: s.log, open: make(map[string]*openCall)}
}

// run drains the queue until it is closed, committing a batch whenever it
// is full, the batch window has passed, or a waiting request finds the
// queue empty.
func (w *writer) run() {
	defer close(w.s.writerDone)
	batch := make([]item, 0, maxBatch)
	window := time.NewTimer(batchWindow)
	defer window.Stop()
	for running := true; running; {
		it, ok := <-w.s.queue
		if !ok {
			break
		}
		batch = append(batch[:0], it)
		waiting := it.req != nil
		window.Reset(batchWindow)
	fill:
		for len(batch) < maxBatch {
			select {
			case it, ok := <-w.s.queue:
				if !ok {
					running = false
					break fill
				}
				batch = append(batch, it)
				waiting = waiting || it.req != nil
				continue
			default:
			}
			if waiting {
				break fill
			}
			select {
			case it, ok := <-w.s.queue:
				if !ok {
					running = false
					break fill
				}
				batch = append(batch, it)
				waiting = waiting || it.req != nil
			case <-window.C:
				break fill
			}
		}
		w.commit(batch)
		clear(batch) // let the strings of committed items be collected
	}
	w.s.writerErr = w.lost
	if err := w.conn.Close(); err != nil {
		w.s.writerErr = errors.Join(w.s.writerErr, err)
	}
}

// commit writes a batch, retrying once, and reports the outcome to every
// waiting request.
func (w *writer) commit(batch []item) {
	err := w.attempt(batch)
	if err != nil {
		w.log.Warn("call log write failed, retrying", "items", len(batch), "err", err)
		time.Sleep(retryDelay)
		err = w.attempt(batch)
	}
	var events, records uint64
	for i := range batch {
		switch {
		case batch[i].req == nil:
			events++
		case batch[i].req.rec != nil:
			records++
		}
	}
	if err != nil {
		w.s.writeErrors.Add(events + records)
		w.log.Error("call log write failed, items lost", "events", events, "records", records, "err", err)
		if events > 0 {
			w.lost = fmt.Errorf("%d events lost: %w", events, err)
		}
		for i := range batch {
			if req := batch[i].req; req != nil {
				if req.rec != nil {
					w.log.Error("call record lost", "call_id", req.rec.callID)
					req.done <- err
				} else {
					req.done <- w.takeLost()
				}
			}
		}
		return
	}
	w.s.eventsWritten.Add(events)
	for i := range batch {
		req := batch[i].req
		switch {
		case req == nil:
		case req.rec != nil:
			if req.err == nil {
				w.s.recordsWritten.Add(1)
			}
			req.done <- req.err
		default:
			req.done <- w.takeLost()
		}
	}
}

// takeLost returns and clears the error of items lost since the last flush.
func (w *writer) takeLost() error {
	err := w.lost
	w.lost = nil
	return err
}

// txStmts prepares the batch statements on first use.
type txStmts struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (t *txStmts) exec(query string, args ...any) (sql.Result, error) {
	st, ok := t.stmts[query]
	if !ok {
		var err error
		if st, err = t.tx.PrepareContext(t.ctx, query); err != nil {
			return nil, err
		}
		t.stmts[query] = st
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *txStmts) close() {
	for _, st := range t.stmts {
		_ = st.Close()
	}
}

// attempt writes the batch in one transaction. A batch with a record is
// committed with the durable synchronous setting so that WriteRecord's
// promise holds across a power loss; events-only batches use the fast one,
// which survives a process crash.
func (w *writer) attempt(batch []item) (err error) {
	ctx := context.Background()
	durable := false
	for i := range batch {
		if batch[i].req != nil && batch[i].req.rec != nil {
			durable = true
			break
		}
	}
	if err := w.setDurable(ctx, durable); err != nil {
		return err
	}

	w.undo = w.undo[:0]
	lastJID := w.lastJID
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	st := &txStmts{ctx: ctx, tx: tx, stmts: make(map[string]*sql.Stmt, 6)}
	defer func() {
		st.close()
		if err != nil {
			_ = tx.Rollback()
			w.rollbackOpen()
		}
	}()
	for i := range batch {
		it := &batch[i]
		switch {
		case it.req == nil:
			var jid int64
			if jid, err = w.appendEvent(ctx, tx, st, &it.ev); err != nil {
				return err
			}
			lastJID = max(lastJID, jid)
		case it.req.rec != nil:
			if it.req.err, err = w.writeRecord(ctx, tx, st, it.req.rec); err != nil {
				return err
			}
		}
	}
	cut := w.cut
	if durable {
		// Only a record closes a call, so only then can the cut advance.
		cut = lastJID + 1
		for _, oc := range w.open {
			cut = min(cut, oc.jids[0])
		}
		if cut > w.cut {
			if _, err = st.exec(w.d.truncateJournal, cut); err != nil {
				return fmt.Errorf("truncate journal: %w", err)
			}
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	w.lastJID, w.cut = lastJID, max(cut, w.cut)
	return nil
}

// appendEvent journals one event and returns its journal row, or 0 when
// the call is already recorded: such a late event goes straight to the
// events table after the call's last one.
func (w *writer) appendEvent(ctx context.Context, tx *sql.Tx, st *txStmts, ev *eventRow) (int64, error) {
	oc := w.open[ev.callID]
	if oc == nil {
		var recorded bool
		if err := tx.QueryRowContext(ctx, w.d.hasRecord, ev.callID).Scan(&recorded); err != nil {
			return 0, fmt.Errorf("look up record of call %s: %w", ev.callID, err)
		}
		if recorded {
			if _, err := st.exec(w.d.insertLateEvent, ev.callID, ev.atMs, ev.typ, ev.data); err != nil {
				return 0, fmt.Errorf("insert late event of call %s: %w", ev.callID, err)
			}
			return 0, nil
		}
	}
	res, err := st.exec(w.d.insertJournal, ev.callID, ev.atMs, ev.typ, ev.data)
	if err != nil {
		return 0, fmt.Errorf("journal event of call %s: %w", ev.callID, err)
	}
	jid, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("journal event of call %s: %w", ev.callID, err)
	}
	if oc == nil {
		w.undo = append(w.undo, undoEntry{callID: ev.callID})
		oc = &openCall{jids: make([]int64, 0, openJIDsCap)}
		w.open[ev.callID] = oc
	} else {
		w.undo = append(w.undo, undoEntry{callID: ev.callID, prev: oc, prevLen: len(oc.jids)})
	}
	oc.jids = append(oc.jids, jid)
	return jid, nil
}

// writeRecord inserts one record with all of the call's events. A call
// that already has a record yields ErrDuplicate as the record's own
// outcome without failing the batch; events journaled since then are kept
// as late events.
func (w *writer) writeRecord(ctx context.Context, tx *sql.Tx, st *txStmts, rec *recordRow) (outcome, err error) {
	res, err := tx.ExecContext(ctx, w.d.insertRecord, rec.args()...)
	if err != nil {
		return nil, fmt.Errorf("insert record of call %s: %w", rec.callID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("insert record of call %s: %w", rec.callID, err)
	}
	if n == 0 {
		outcome = ErrDuplicate
	}
	oc := w.open[rec.callID]
	if oc == nil {
		return outcome, nil
	}
	for seq, jid := range oc.jids {
		var res sql.Result
		if outcome == nil {
			res, err = st.exec(w.d.copyJournalEvent, jid, seq)
		} else {
			res, err = st.exec(w.d.copyLateJournalEvent, jid)
		}
		if err != nil {
			return nil, fmt.Errorf("insert events of call %s: %w", rec.callID, err)
		}
		// The cut never passes a call in progress, so a missing row is a
		// broken invariant. It costs that one event, counted and logged,
		// not the batch: failing it would lose every record in it.
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			w.s.writeErrors.Add(1)
			w.log.Error("call log event missing from the journal", "call_id", rec.callID, "journal_row", jid, "copied", n, "err", err)
		}
	}
	w.undo = append(w.undo, undoEntry{callID: rec.callID, prev: oc, prevLen: len(oc.jids)})
	delete(w.open, rec.callID)
	return outcome, nil
}

// rollbackOpen restores the calls in progress after a rollback, newest
// change first.
func (w *writer) rollbackOpen() {
	for i := len(w.undo) - 1; i >= 0; i-- {
		u := w.undo[i]
		if u.prev == nil {
			delete(w.open, u.callID)
			continue
		}
		u.prev.jids = u.prev.jids[:u.prevLen]
		w.open[u.callID] = u.prev
	}
	w.undo = w.undo[:0]
}

// setDurable switches the connection's synchronous setting when needed.
func (w *writer) setDurable(ctx context.Context, durable bool) error {
	if durable == w.durable {
		return nil
	}
	q := w.d.syncFast
	if durable {
		q = w.d.syncDurable
	}
	if q != "" {
		if _, err := w.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("set synchronous: %w", err)
		}
	}
	w.durable = durable
	return nil
}
