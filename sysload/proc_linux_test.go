package sysload

import (
	"errors"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	busy, total, err := parseStat([]byte("cpu  2165139 0 1222360 8316717 22227 0 371147 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if wantBusy, wantTotal := (2165139+1222360+371147)*10*time.Millisecond, (2165139+1222360+8316717+22227+371147)*10*time.Millisecond; busy != wantBusy || total != wantTotal {
		t.Errorf("busy %v total %v, want %v and %v", busy, total, wantBusy, wantTotal)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu 1 2 3 x 5 6 7 8"} {
		if _, _, err := parseStat([]byte(bad)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("parseStat(%q): %v, want ErrUnavailable", bad, err)
		}
	}
}
