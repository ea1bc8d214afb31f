package calllog

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// eventRow is an Event encoded for the database. It is built on the calling
// goroutine, so the JSON encoding is spread over the calls instead of
// serialised in the writer, and the caller's Data map is not shared with the
// writer after AppendEvent returns.
type eventRow struct {
	callID string
	typ    string
	data   sql.NullString
	atMs   int64
}

func newEventRow(ev Event) (eventRow, error) {
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	row := eventRow{callID: ev.CallID, typ: ev.Type, atMs: at.UnixMilli()}
	if len(ev.Data) > 0 {
		row.data = sql.NullString{String: encodeData(ev.Data), Valid: true}
	}
	return row, nil
}

// encodeData writes data as a JSON object, byte for byte what
// json.Marshal writes for it (keys sorted, the same escapes). Not
// json.Marshal itself: its reflection over a map is 1.5 KiB of stack,
// and AppendEvent runs on the call flow's goroutine, whose stack would
// double for the rest of the call to hold it.
func encodeData(data map[string]string) string {
	keys := make([]string, 0, len(data))
	n := 2
	for k, v := range data {
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, data[k])
	}
	b = append(b, '}')
	return string(b)
}

// appendJSONString appends s as a JSON string with encoding/json's
// escaping: control characters, quote and backslash; <, > and & for HTML
// safety; U+2028 and U+2029 for JavaScript; invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decodeData turns the stored JSON object back into a map; NULL or
// unreadable data yields nil.
func decodeData(s sql.NullString) map[string]string {
	if !s.Valid || s.String == "" {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil || len(m) == 0 {
		return nil
	}
	return m
}

// recordRow is a Record encoded for the database.
type recordRow struct {
	callID, caller, called     string
	arrivalMs                  int64
	answerMs                   sql.NullInt64
	endMs                      int64
	answerDelayMs              int64
	answerRings                int64
	greeting, digits, prompts  string
	hangupBy, hangupReason     string
	disposition                string
	sipStatus                  int64
	queue, queueResult, agent  string
	queuePosition              int64
	queueWaitMs, talkMs        int64
	wrapUpMs                   int64
	speech                     string
	holdCount, holdMs          int64
	longestHoldMs, overPromise int64
	transfers                  string
	ringAttempts, endedBy      string
}

func newRecordRow(rec Record) (recordRow, error) {
	prompts := rec.Prompts
	if prompts == nil {
		prompts = []string{}
	}
	pj, err := json.Marshal(prompts)
	if err != nil {
		return recordRow{}, fmt.Errorf("calllog: encode prompts: %w", err)
	}
	attempts := rec.RingAttempts
	if attempts == nil {
		attempts = []RingAttempt{}
	}
	aj, err := json.Marshal(attempts)
	if err != nil {
		return recordRow{}, fmt.Errorf("calllog: encode ring attempts: %w", err)
	}
	tj := []byte("[]")
	if len(rec.Transfers) > 0 {
		if tj, err = json.Marshal(rec.Transfers); err != nil {
			return recordRow{}, fmt.Errorf("calllog: encode transfers: %w", err)
		}
	}
	sj := []byte("{}")
	if rec.Speech != nil {
		if sj, err = json.Marshal(rec.Speech); err != nil {
			return recordRow{}, fmt.Errorf("calllog: encode speech: %w", err)
		}
	}
	row := recordRow{
		callID:        rec.CallID,
		caller:        rec.Caller,
		called:        rec.Called,
		arrivalMs:     rec.Arrival.UnixMilli(),
		endMs:         rec.End.UnixMilli(),
		answerDelayMs: rec.AnswerDelay.Milliseconds(),
		answerRings:   int64(rec.AnswerRings),
		greeting:      rec.Greeting,
		digits:        rec.Digits,
		prompts:       string(pj),
		hangupBy:      rec.HangupBy,
		hangupReason:  rec.HangupReason,
		disposition:   rec.Disposition,
		sipStatus:     int64(rec.SIPStatus),
		queue:         rec.Queue,
		queuePosition: int64(rec.QueuePosition),
		queueWaitMs:   rec.QueueWait.Milliseconds(),
		queueResult:   rec.QueueResult,
		agent:         rec.Agent,
		ringAttempts:  string(aj),
		talkMs:        rec.TalkTime.Milliseconds(),
		endedBy:       rec.EndedBy,
		wrapUpMs:      rec.WrapUp.Milliseconds(),
		speech:        string(sj),
		holdCount:     int64(rec.HoldCount),
		holdMs:        rec.HoldTotal.Milliseconds(),
		longestHoldMs: rec.LongestHold.Milliseconds(),
		overPromise:   int64(rec.HoldsOverPromise),
		transfers:     string(tj),
	}
	if !rec.Answer.IsZero() {
		row.answerMs = sql.NullInt64{Int64: rec.Answer.UnixMilli(), Valid: true}
	}
	return row, nil
}

// args returns the values in recordColumns order.
func (r *recordRow) args() []any {
	return []any{r.callID, r.caller, r.called, r.arrivalMs, r.answerMs, r.endMs,
		r.answerDelayMs, r.answerRings, r.greeting, r.digits, r.prompts, r.hangupBy,
		r.hangupReason, r.disposition, r.sipStatus, r.queue, r.queuePosition, r.queueWaitMs,
		r.queueResult, r.agent, r.ringAttempts, r.talkMs, r.endedBy, r.wrapUpMs, r.speech,
		r.holdCount, r.holdMs, r.longestHoldMs, r.overPromise, r.transfers}
}

// scanner is the part of *sql.Row and *sql.Rows that scanRecord needs.
type scanner interface {
	Scan(dest ...any) error
}

// scanRecord reads one row selected with recordColumns.
func scanRecord(sc scanner) (Record, error) {
	var r recordRow
	if err := sc.Scan(&r.callID, &r.caller, &r.called, &r.arrivalMs, &r.answerMs, &r.endMs,
		&r.answerDelayMs, &r.answerRings, &r.greeting, &r.digits, &r.prompts, &r.hangupBy,
		&r.hangupReason, &r.disposition, &r.sipStatus, &r.queue, &r.queuePosition, &r.queueWaitMs,
		&r.queueResult, &r.agent, &r.ringAttempts, &r.talkMs, &r.endedBy, &r.wrapUpMs, &r.speech,
		&r.holdCount, &r.holdMs, &r.longestHoldMs, &r.overPromise, &r.transfers); err != nil {
		return Record{}, err
	}
	rec := Record{
		CallID:           r.callID,
		Caller:           r.caller,
		Called:           r.called,
		Arrival:          fromMillis(r.arrivalMs),
		End:              fromMillis(r.endMs),
		AnswerDelay:      time.Duration(r.answerDelayMs) * time.Millisecond,
		AnswerRings:      int(r.answerRings),
		Greeting:         r.greeting,
		Digits:           r.digits,
		HangupBy:         r.hangupBy,
		HangupReason:     r.hangupReason,
		Disposition:      r.disposition,
		SIPStatus:        int(r.sipStatus),
		Queue:            r.queue,
		QueuePosition:    int(r.queuePosition),
		QueueWait:        time.Duration(r.queueWaitMs) * time.Millisecond,
		QueueResult:      r.queueResult,
		Agent:            r.agent,
		TalkTime:         time.Duration(r.talkMs) * time.Millisecond,
		EndedBy:          r.endedBy,
		WrapUp:           time.Duration(r.wrapUpMs) * time.Millisecond,
		HoldCount:        int(r.holdCount),
		HoldTotal:        time.Duration(r.holdMs) * time.Millisecond,
		LongestHold:      time.Duration(r.longestHoldMs) * time.Millisecond,
		HoldsOverPromise: int(r.overPromise),
	}
	if r.transfers != "" && r.transfers != "[]" {
		if err := json.Unmarshal([]byte(r.transfers), &rec.Transfers); err != nil {
			return Record{}, fmt.Errorf("calllog: call %s: decode transfers: %w", r.callID, err)
		}
	}
	if r.speech != "" && r.speech != "{}" {
		rec.Speech = new(Speech)
		if err := json.Unmarshal([]byte(r.speech), rec.Speech); err != nil {
			return Record{}, fmt.Errorf("calllog: call %s: decode speech: %w", r.callID, err)
		}
	}
	if r.ringAttempts != "" && r.ringAttempts != "[]" {
		if err := json.Unmarshal([]byte(r.ringAttempts), &rec.RingAttempts); err != nil {
			return Record{}, fmt.Errorf("calllog: call %s: decode ring attempts: %w", r.callID, err)
		}
	}
	if r.answerMs.Valid {
		rec.Answer = fromMillis(r.answerMs.Int64)
	}
	if r.prompts != "" && r.prompts != "[]" {
		if err := json.Unmarshal([]byte(r.prompts), &rec.Prompts); err != nil {
			return Record{}, fmt.Errorf("calllog: call %s: decode prompts: %w", r.callID, err)
		}
	}
	return rec, nil
}

// fromMillis is the inverse of time.Time.UnixMilli, in UTC.
func fromMillis(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}
