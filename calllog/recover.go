package calllog

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
)

// recoverInterrupted closes every call that has journaled events but no
// record, as left behind by a crash, with a record of disposition
// "interrupted" (R6: no call goes unrecorded), and moves its events to the
// events table. It runs on Open before the writer starts, in one
// transaction, and leaves the journal empty. The journal only holds the
// events since the oldest call that was in progress, so reading it whole is
// cheap.
func recoverInterrupted(ctx context.Context, conn *sql.Conn, d *dialect, log *slog.Logger) (n int, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("recover: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	order, calls, err := readJournal(ctx, tx, d)
	if err != nil {
		return 0, err
	}
	for _, id := range order {
		var recorded bool
		if err := tx.QueryRowContext(ctx, d.hasRecord, id).Scan(&recorded); err != nil {
			return 0, fmt.Errorf("recover: look up record of call %s: %w", id, err)
		}
		if recorded {
			// Its events were written with the record; the journal rows
			// were only waiting to be cut.
			continue
		}
		rows := calls[id]
		evs := make([]Event, len(rows))
		for i, r := range rows {
			evs[i] = Event{CallID: id, At: fromMillis(r.atMs), Type: r.typ, Data: decodeData(r.data)}
		}
		rec, err := newRecordRow(interruptedRecord(id, evs))
		if err != nil {
			return 0, fmt.Errorf("recover: call %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, d.insertRecord, rec.args()...); err != nil {
			return 0, fmt.Errorf("recover: record of call %s: %w", id, err)
		}
		for seq, r := range rows {
			if _, err := tx.ExecContext(ctx, d.insertEvent, id, seq, r.atMs, r.typ, r.data); err != nil {
				return 0, fmt.Errorf("recover: events of call %s: %w", id, err)
			}
		}
		log.Warn("call closed as interrupted", "call_id", id, "events", len(rows))
		n++
	}
	if _, err = tx.ExecContext(ctx, d.clearJournal); err != nil {
		return 0, fmt.Errorf("recover: clear journal: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("recover: commit: %w", err)
	}
	if n > 0 {
		log.Warn("recovered calls interrupted by a previous crash", "calls", n)
	}
	return n, nil
}

// readJournal groups the journal by call, calls in order of their first
// event and each call's events in append order.
func readJournal(ctx context.Context, tx *sql.Tx, d *dialect) (order []string, calls map[string][]eventRow, err error) {
	rows, err := tx.QueryContext(ctx, d.selectJournal)
	if err != nil {
		return nil, nil, fmt.Errorf("recover: read journal: %w", err)
	}
	defer rows.Close()
	calls = make(map[string][]eventRow)
	for rows.Next() {
		var (
			jid int64
			r   eventRow
		)
		if err := rows.Scan(&jid, &r.callID, &r.atMs, &r.typ, &r.data); err != nil {
			return nil, nil, fmt.Errorf("recover: read journal: %w", err)
		}
		if _, seen := calls[r.callID]; !seen {
			order = append(order, r.callID)
		}
		calls[r.callID] = append(calls[r.callID], r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("recover: read journal: %w", err)
	}
	return order, calls, nil
}

// interruptedRecord rebuilds what the journal tells about a call that never
// got its record: it ran from its first to its last event and the system
// ended it. Caller, called, answer time, digits and prompts are filled in
// from the events that carry them (see the Event* and Data* constants).
func interruptedRecord(callID string, evs []Event) Record {
	rec := Record{
		CallID:       callID,
		Arrival:      evs[0].At,
		End:          evs[len(evs)-1].At,
		HangupBy:     HangupSystem,
		HangupReason: ReasonInterrupted,
		Disposition:  DispositionInterrupted,
	}
	var digits strings.Builder
	arrivalSeen := false
	for _, ev := range evs {
		switch ev.Type {
		case EventArrival:
			if !arrivalSeen {
				arrivalSeen = true
				rec.Caller = ev.Data[DataCaller]
				rec.Called = ev.Data[DataCalled]
			}
		case EventAnswered:
			if rec.Answer.IsZero() {
				rec.Answer = ev.At
				rec.AnswerDelay = max(ev.At.Sub(rec.Arrival), 0)
				// An answered event means the 200 OK went out.
				rec.SIPStatus = 200
			}
		case EventPromptStart:
			// One prompt_start may cover several prompts played back to
			// back, listed comma-separated.
			for _, p := range strings.Split(ev.Data[DataPrompt], ",") {
				if p != "" {
					rec.Prompts = append(rec.Prompts, p)
				}
			}
		case EventDTMF:
			digits.WriteString(ev.Data[DataDigit])
		}
	}
	rec.Digits = digits.String()
	return rec
}
