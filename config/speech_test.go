package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/config"
)

func TestSpeechSettings(t *testing.T) {
	c, err := config.Parse("s.yaml", []byte("speech:\n  dead_air_alert: 5s\n  pace_min: 90\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Speech.DeadAirAlert != 5*time.Second || c.Speech.PaceMin != 90 || c.Speech.PaceMax != 160 {
		t.Fatalf("speech %+v", c.Speech)
	}
	_, err = config.Parse("bad.yaml", []byte("speech:\n  dead_air_alert: 0s\n  pace_min: 170\n  loudness: 3\n"))
	for _, want := range []string{"bad.yaml:2: speech.dead_air_alert: must be positive", "speech.pace_max: pace_max 160 must be above pace_min 170", "bad.yaml:4: speech.loudness: unknown key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in:\n%v", want, err)
		}
	}
}
