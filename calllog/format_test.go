package calllog

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestWriteTableMasksCallerNumbersAndShowsLocalTime(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	answered := answeredRecord("call-a", time.Date(2025, 3, 14, 1, 2, 3, 0, time.UTC))
	abandoned := Record{
		CallID: "call-b", Caller: "sip:+14155550123@pbx.example.com;user=phone",
		Arrival: time.Date(2025, 3, 14, 23, 30, 0, 0, time.UTC), End: time.Date(2025, 3, 14, 23, 30, 9, 0, time.UTC),
		HangupBy: HangupCaller, HangupReason: "cancel", Disposition: DispositionAbandonedRinging, SIPStatus: 487,
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Record{answered, abandoned}, shanghai); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want header + 2:\n%s", len(lines), out)
	}
	for _, h := range []string{"CALL ID", "ARRIVAL", "CALLER", "DELAY", "RINGS", "GREETING", "DIGITS", "HANGUP BY", "REASON", "DISPOSITION", "STATUS"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header %q lacks column %s", lines[0], h)
		}
	}
	for _, secret := range []string{"8613812345678", "13812345", "1415555", "pbx.example.com"} {
		if strings.Contains(out, secret) {
			t.Errorf("table reveals %q:\n%s", secret, out)
		}
	}
	wantInRow := map[int][]string{
		1: {"call-a", "2025-03-14 09:02:03", "****5678", "1.235s", "morning", "12#", "caller", "bye", "completed", "200"},
		2: {"call-b", "2025-03-15 07:30:00", "****0123", "cancel", "abandoned_ringing", "487"},
	}
	for row, wants := range wantInRow {
		for _, w := range wants {
			if !strings.Contains(lines[row], w) {
				t.Errorf("row %d %q lacks %q", row, lines[row], w)
			}
		}
	}
	// Columns are aligned: every line starts its ARRIVAL column at the same offset.
	col := strings.Index(lines[0], "ARRIVAL")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "2025-") {
			t.Errorf("row %q not aligned at column %d", l, col)
		}
	}
}

func TestWriteTableNeutralisesControlCharacters(t *testing.T) {
	rec := answeredRecord("evil\ncall", base)
	rec.Caller = "\x1b[31m+8613812345678"
	rec.HangupReason = "bye\tfake-column"
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Record{rec}, time.UTC); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("table has %d lines, want 2:\n%q", n, out)
	}
	if strings.ContainsRune(out, '\x1b') || strings.ContainsRune(out, '\t') {
		t.Errorf("control characters reached the output: %q", out)
	}
	if !strings.Contains(out, "evil?call") {
		t.Errorf("call ID not shown with the control character replaced: %q", out)
	}
}

func TestMaskCaller(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty stays empty", "", ""},
		{"E.164 number keeps last four digits", "+8613812345678", "****5678"},
		{"SIP URI is reduced to its user part", "sip:+8613812345678@pbx.example.com;user=phone", "****5678"},
		{"angle-bracketed SIPS URI", "<sips:4155550123@example.com>", "****0123"},
		{"tel URI with parameters", "tel:+14155550123;ext=12", "****0123"},
		{"user name", "alice@example.com", "****lice"},
		{"four characters are hidden completely", "1001", "****"},
		{"short extension is hidden completely", "12", "****"},
		{"URI without user is hidden", "sip:@example.com", "****"},
		{"unicode user keeps four runes", "张三丰先生你好", "****先生你好"},
		{"length is not revealed", "+861381234567899999", "****9999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskCaller(tt.in); got != tt.want {
				t.Errorf("MaskCaller(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzMaskCaller(f *testing.F) {
	for _, s := range []string{"", "+8613812345678", "sip:alice@example.com", "tel:+1;x", "<sip:@>", "张三", "\xff\xfe12345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := MaskCaller(in)
		if in == "" {
			if out != "" {
				t.Fatalf("MaskCaller(\"\") = %q", out)
			}
			return
		}
		shown, ok := strings.CutPrefix(out, "****")
		if !ok {
			t.Fatalf("MaskCaller(%q) = %q lacks the mask", in, out)
		}
		if n := utf8.RuneCountInString(shown); n > 4 {
			t.Fatalf("MaskCaller(%q) = %q shows %d characters", in, out, n)
		}
		if !strings.Contains(in, shown) {
			t.Fatalf("MaskCaller(%q) = %q shows characters not in the input", in, out)
		}
	})
}

func FuzzWriteTable(f *testing.F) {
	f.Add("call-1", "+8613812345678", "12#", "bye")
	f.Add("a\nb", "\x1b[2J", "\t", "\r")
	f.Fuzz(func(t *testing.T, callID, caller, digits, reason string) {
		rec := Record{CallID: callID, Caller: caller, Digits: digits, HangupReason: reason, Arrival: base, End: base}
		var buf bytes.Buffer
		if err := WriteTable(&buf, []Record{rec}, time.UTC); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if n := strings.Count(out, "\n"); n != 2 {
			t.Fatalf("table has %d lines, want 2: %q", n, out)
		}
		for _, r := range out {
			if r != '\n' && unicode.IsControl(r) {
				t.Fatalf("control character %U in output %q", r, out)
			}
		}
	})
}

func TestWriteJSONUsesSnakeCaseKeysAndFullCaller(t *testing.T) {
	answered := answeredRecord("call-a", base)
	abandoned := Record{CallID: "call-b", Caller: "+14155550123", Arrival: base, End: base.Add(time.Second),
		HangupBy: HangupCaller, HangupReason: "cancel", Disposition: DispositionAbandonedRinging, SIPStatus: 487}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []Record{answered, abandoned}); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, buf.String())
	}
	if len(got) != 2 {
		t.Fatalf("got %d objects, want 2", len(got))
	}
	wantKeys := []string{"answer", "answer_delay_ms", "answer_rings", "arrival", "call_id", "called", "caller",
		"digits", "disposition", "end", "greeting", "hangup_by", "hangup_reason", "prompts", "sip_status",
		"agent", "ended_by", "queue", "queue_position", "queue_result", "queue_wait_ms", "ring_attempts", "talk_ms", "wrap_up_ms", "speech",
		"hold_count", "hold_ms", "longest_hold_ms", "holds_over_promise", "transfers"}
	sort.Strings(wantKeys)
	for i, obj := range got {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Errorf("object %d keys = %v, want %v", i, keys, wantKeys)
		}
	}
	a, b := got[0], got[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"full caller number", a["caller"], "+8613812345678"},
		{"answer delay in ms", a["answer_delay_ms"], float64(1234)},
		{"arrival in UTC RFC 3339", a["arrival"], "2025-03-14T01:26:53.589793238Z"},
		{"prompts array", a["prompts"], []any{"greeting.morning", "company", "offer_help", "closing.thanks"}},
		{"sip status", b["sip_status"], float64(487)},
		{"unanswered call has null answer", b["answer"], nil},
		{"no prompts is an empty array", b["prompts"], []any{}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestWriteJSONOfNoRecordsIsAnEmptyArray(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(buf.String()); got != "[]" {
		t.Errorf("WriteJSON(nil) = %q, want []", got)
	}
}

// The event data written to the journal is byte for byte what
// encoding/json writes for the same map, for any keys and values: stored
// journals stay readable by json.Unmarshal and comparable with old rows.
func FuzzEventDataEncodesAsEncodingJSON(f *testing.F) {
	f.Add("prompt", "greeting,company", "result", "done")
	f.Add("digit", "#", "", "")
	f.Add("<a&b>", "\"q\"\\\n\r\t\b\f\x00\x1f\x7f", "é", "\u2028\u2029\xff\xfe")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		data := map[string]string{k1: v1, k2: v2}
		want, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		if got := encodeData(data); got != string(want) {
			t.Errorf("encodeData(%q) = %s, want %s", data, got, want)
		}
	})
}
