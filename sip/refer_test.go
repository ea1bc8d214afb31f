package sip

import "testing"

// RFC 3891 section 6.1 and RFC 3261 section 19.1.1: the Replaces header
// travels escaped inside the Refer-To URI of an attended transfer.
func TestParseEmbeddedReplaces(t *testing.T) {
	tests := []struct {
		name    string
		headers string
		want    replacesHeader
	}{
		{"linphone style", "Replaces=abc123%40127.0.0.1%3Bto-tag%3D77%3Bfrom-tag%3D88",
			replacesHeader{present: true, callID: "abc123@127.0.0.1", toTag: "77", fromTag: "88"}},
		{"tags in the other order and case", "replaces=X%3BFrom-Tag%3Da%3BTo-Tag%3Db",
			replacesHeader{present: true, callID: "X", toTag: "b", fromTag: "a"}},
		{"early-only flag is ignored", "Replaces=c%3Bto-tag%3D1%3Bfrom-tag%3D2%3Bearly-only",
			replacesHeader{present: true, callID: "c", toTag: "1", fromTag: "2"}},
		{"among other embedded headers", "Referred-By=%3Csip%3A1001%40h%3E&Replaces=c%3Bto-tag%3D1%3Bfrom-tag%3D2",
			replacesHeader{present: true, callID: "c", toTag: "1", fromTag: "2"}},
		{"plus kept literally in the Call-ID", "Replaces=a+b%3Bto-tag%3D1%3Bfrom-tag%3D2",
			replacesHeader{present: true, callID: "a+b", toTag: "1", fromTag: "2"}},
		{"no Replaces: a blind transfer", "Referred-By=x", replacesHeader{}},
		{"broken escape still marks an attended transfer", "Replaces=%zz", replacesHeader{present: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseEmbeddedReplaces(tt.headers); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseEmbeddedReplaces(f *testing.F) {
	f.Add("Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2")
	f.Add("Replaces=&Replaces=%")
	f.Add("a=b&c")
	f.Fuzz(func(t *testing.T, s string) {
		rep := parseEmbeddedReplaces(s)
		if !rep.present && (rep.callID != "" || rep.toTag != "" || rep.fromTag != "") {
			t.Fatalf("dialog fields without a Replaces header: %+v", rep)
		}
	})
}
