package calllog

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// tableTimeLayout shows the arrival in the operator's local time, to the
// second.
const tableTimeLayout = "2006-01-02 15:04:05"

// WriteTable prints records as an aligned text table (call id, arrival local
// time, answer delay, rings, greeting, digits, hangup_by, reason,
// disposition, status). Caller numbers are shown masked except the last 4
// digits (R12). A nil loc means time.Local. Control characters in stored
// values (caller IDs come from SIP headers) are replaced, so a record cannot
// forge table rows or send escape sequences to the terminal.
func WriteTable(w io.Writer, recs []Record, loc *time.Location) error {
	if loc == nil {
		loc = time.Local
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, err := io.WriteString(tw, "CALL ID\tARRIVAL\tCALLER\tDELAY\tRINGS\tGREETING\tDIGITS\tQUEUE\tWAIT\tAGENT\tTALK\tHANGUP BY\tREASON\tENDED BY\tDISPOSITION\tSTATUS\n")
	for i := 0; i < len(recs) && err == nil; i++ {
		r := &recs[i]
		delay, rings := "-", "-"
		if !r.Answer.IsZero() {
			delay = r.AnswerDelay.Round(time.Millisecond).String()
			rings = strconv.Itoa(r.AnswerRings)
		}
		status := "-"
		if r.SIPStatus != 0 {
			status = strconv.Itoa(r.SIPStatus)
		}
		queueWait, talk := "-", "-"
		if r.Queue != "" {
			queueWait = r.QueueWait.Round(time.Second).String() + " " + r.QueueResult
		}
		if r.TalkTime > 0 {
			talk = r.TalkTime.Round(time.Second).String()
		}
		arrival := "-"
		if !r.Arrival.IsZero() {
			arrival = r.Arrival.In(loc).Format(tableTimeLayout)
		}
		_, err = io.WriteString(tw, strings.Join([]string{
			cell(r.CallID), arrival, cell(MaskCaller(r.Caller)), delay, rings,
			cell(r.Greeting), cell(r.Digits), cell(r.Queue), queueWait, cell(r.Agent), talk,
			cell(r.HangupBy), cell(r.HangupReason), cell(r.EndedBy), cell(r.Disposition), status,
		}, "\t")+"\n")
	}
	if err == nil {
		err = tw.Flush()
	}
	if err != nil {
		return fmt.Errorf("calllog: write table: %w", err)
	}
	return nil
}

// cell makes a value safe for one table cell: control characters (tabs and
// newlines would break the alignment; escapes would reach the terminal) and
// invalid UTF-8 become '?', and an empty value shows as "-".
func cell(s string) string {
	if s == "" {
		return "-"
	}
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// MaskCaller hides a caller number or user for display (R12): only its last
// four characters remain, behind a fixed "****" so the length is hidden too.
// A SIP or tel URI is reduced to its user part first, so "sip:+8613812345678@pbx"
// shows as "****5678", not as the domain. Values of four characters or
// fewer are hidden completely; the empty string stays empty.
func MaskCaller(caller string) string {
	user := callerUser(caller)
	if user == "" {
		if caller == "" {
			return ""
		}
		return "****"
	}
	n := utf8.RuneCountInString(user)
	if n <= 4 {
		return "****"
	}
	// Skip all but the last four runes.
	i := 0
	for skip := n - 4; skip > 0; skip-- {
		_, size := utf8.DecodeRuneInString(user[i:])
		i += size
	}
	return "****" + user[i:]
}

// callerUser extracts the user part of "sip:user@host;params",
// "tel:+123;params" or a bare "user@host"; other values are returned
// trimmed.
func callerUser(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimSuffix(s, ">"), "<")
	lower := strings.ToLower(s)
	for _, scheme := range []string{"sip:", "sips:", "tel:"} {
		if strings.HasPrefix(lower, scheme) {
			s = s[len(scheme):]
			break
		}
	}
	if at := strings.IndexByte(s, '@'); at >= 0 {
		s = s[:at]
	}
	if semi := strings.IndexByte(s, ';'); semi >= 0 {
		s = s[:semi]
	}
	return s
}

// jsonRecord is the JSON shape of a Record for `hotline calls --json`.
type jsonRecord struct {
	CallID           string            `json:"call_id"`
	Caller           string            `json:"caller"`
	Called           string            `json:"called"`
	Arrival          time.Time         `json:"arrival"`
	Answer           *time.Time        `json:"answer"` // null when never answered
	End              time.Time         `json:"end"`
	AnswerDelayMS    int64             `json:"answer_delay_ms"`
	AnswerRings      int               `json:"answer_rings"`
	Greeting         string            `json:"greeting"`
	Digits           string            `json:"digits"`
	Prompts          []string          `json:"prompts"`
	HangupBy         string            `json:"hangup_by"`
	HangupReason     string            `json:"hangup_reason"`
	Disposition      string            `json:"disposition"`
	SIPStatus        int               `json:"sip_status"`
	Queue            string            `json:"queue"`
	QueuePosition    int               `json:"queue_position"`
	QueueWaitMS      int64             `json:"queue_wait_ms"`
	QueueResult      string            `json:"queue_result"`
	RingAttempts     []RingAttempt     `json:"ring_attempts"`
	Agent            string            `json:"agent"`
	TalkMS           int64             `json:"talk_ms"`
	WrapUpMS         int64             `json:"wrap_up_ms"`
	Speech           *Speech           `json:"speech"`
	HoldCount        int               `json:"hold_count"`
	HoldMS           int64             `json:"hold_ms"`
	LongestHoldMS    int64             `json:"longest_hold_ms"`
	HoldsOverPromise int               `json:"holds_over_promise"`
	Transfers        []TransferAttempt `json:"transfers"`
	EndedBy          string            `json:"ended_by"`
}

// WriteJSON prints records as a JSON array with snake_case keys (call_id,
// caller, called, arrival, answer, end, answer_delay_ms, answer_rings,
// greeting, digits, prompts, hangup_by, hangup_reason, disposition,
// sip_status). The JSON output carries the full caller number (it is the
// authenticated operator's own database). Times are RFC 3339 in UTC; answer
// is null for calls never answered; prompts is always an array.
func WriteJSON(w io.Writer, recs []Record) error {
	out := make([]jsonRecord, len(recs))
	for i := range recs {
		r := &recs[i]
		j := jsonRecord{
			CallID:           r.CallID,
			Caller:           r.Caller,
			Called:           r.Called,
			Arrival:          r.Arrival.UTC(),
			End:              r.End.UTC(),
			AnswerDelayMS:    r.AnswerDelay.Milliseconds(),
			AnswerRings:      r.AnswerRings,
			Greeting:         r.Greeting,
			Digits:           r.Digits,
			Prompts:          r.Prompts,
			HangupBy:         r.HangupBy,
			HangupReason:     r.HangupReason,
			Disposition:      r.Disposition,
			SIPStatus:        r.SIPStatus,
			Queue:            r.Queue,
			QueuePosition:    r.QueuePosition,
			QueueWaitMS:      r.QueueWait.Milliseconds(),
			QueueResult:      r.QueueResult,
			RingAttempts:     r.RingAttempts,
			Agent:            r.Agent,
			TalkMS:           r.TalkTime.Milliseconds(),
			WrapUpMS:         r.WrapUp.Milliseconds(),
			Speech:           r.Speech,
			HoldCount:        r.HoldCount,
			HoldMS:           r.HoldTotal.Milliseconds(),
			LongestHoldMS:    r.LongestHold.Milliseconds(),
			HoldsOverPromise: r.HoldsOverPromise,
			Transfers:        r.Transfers,
			EndedBy:          r.EndedBy,
		}
		if j.Transfers == nil {
			j.Transfers = []TransferAttempt{}
		}
		if j.RingAttempts == nil {
			j.RingAttempts = []RingAttempt{}
		}
		if !r.Answer.IsZero() {
			a := r.Answer.UTC()
			j.Answer = &a
		}
		if j.Prompts == nil {
			j.Prompts = []string{}
		}
		out[i] = j
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("calllog: write json: %w", err)
	}
	return nil
}
