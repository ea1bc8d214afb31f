package config_test

import (
	"testing"
	"time"

	"github.com/hotline-dev/hotline/config"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// R2: the greeting's 早上好/中午好/下午好/晚上好 follows the local time in the
// configured zone, whatever zone the clock reports in.
func TestPartOfDayFollowsLocalTimeInTheConfiguredZone(t *testing.T) {
	shanghai := mustZone(t, "Asia/Shanghai")
	newYork := mustZone(t, "America/New_York")

	cn := config.Default() // 05:00 / 11:00 / 13:00 / 18:00, Asia/Shanghai
	us := config.Default()
	us.Location = newYork
	us.DayParts = config.DayParts{
		Morning:   config.ClockTime{Hour: 6},
		Noon:      config.ClockTime{Hour: 12},
		Afternoon: config.ClockTime{Hour: 12, Minute: 30},
		Evening:   config.ClockTime{Hour: 17, Minute: 30},
	}

	at := func(loc *time.Location, h, m int) time.Time { return time.Date(2025, 3, 14, h, m, 0, 0, loc) }
	tests := []struct {
		name string
		cfg  *config.Config
		t    time.Time
		want config.DayPart
	}{
		{"midnight is still evening", cn, at(shanghai, 0, 0), config.Evening},
		{"04:59 is still evening", cn, at(shanghai, 4, 59), config.Evening},
		{"05:00 starts the morning", cn, at(shanghai, 5, 0), config.Morning},
		{"10:59 is still morning", cn, at(shanghai, 10, 59), config.Morning},
		{"11:00 starts noon", cn, at(shanghai, 11, 0), config.Noon},
		{"12:59 is still noon", cn, at(shanghai, 12, 59), config.Noon},
		{"13:00 starts the afternoon", cn, at(shanghai, 13, 0), config.Afternoon},
		{"17:59 is still afternoon", cn, at(shanghai, 17, 59), config.Afternoon},
		{"18:00 starts the evening", cn, at(shanghai, 18, 0), config.Evening},
		{"23:59 is evening", cn, at(shanghai, 23, 59), config.Evening},
		{"seconds do not move a boundary", cn, at(shanghai, 10, 59).Add(59*time.Second + 999*time.Millisecond), config.Morning},
		// 21:00 UTC is 05:00 the next day in Shanghai (UTC+8).
		{"a UTC clock is converted to Shanghai time", cn, at(time.UTC, 21, 0), config.Morning},
		{"20:59 UTC is 04:59 in Shanghai", cn, at(time.UTC, 20, 59), config.Evening},
		{"a time in another zone is converted", cn, at(newYork, 23, 0), config.Noon}, // 11:00 next day in Shanghai (EDT, UTC-4)
		{"another zone with its own boundaries: 05:59", us, at(newYork, 5, 59), config.Evening},
		{"another zone with its own boundaries: 06:00", us, at(newYork, 6, 0), config.Morning},
		{"another zone with its own boundaries: 12:29", us, at(newYork, 12, 29), config.Noon},
		{"another zone with its own boundaries: 12:30", us, at(newYork, 12, 30), config.Afternoon},
		{"another zone with its own boundaries: 17:30", us, at(newYork, 17, 30), config.Evening},
		// 05:00 in Shanghai on 14 March 2025 is 17:00 EDT on 13 March:
		// after New York's 12:30 afternoon start, before its 17:30 evening.
		{"05:00 in Shanghai is afternoon in New York", us, at(shanghai, 5, 0), config.Afternoon},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.PartOfDay(tt.t); got != tt.want {
				t.Errorf("PartOfDay(%s) = %s, want %s", tt.t, got, tt.want)
			}
		})
	}
}

func TestPartOfDayWithoutLocationUsesTheTimesOwnZone(t *testing.T) {
	c := config.Default()
	c.Location = nil
	tm := time.Date(2025, 1, 1, 11, 30, 0, 0, time.UTC)
	if got := c.PartOfDay(tm); got != config.Noon {
		t.Errorf("PartOfDay(%s) = %s, want noon", tm, got)
	}
}

func TestPartOfDayUsesTheLoadedTimezone(t *testing.T) {
	c, err := config.Parse("tz.yaml", []byte("timezone: Europe/London\n"))
	if err != nil {
		t.Fatal(err)
	}
	// 05:30 UTC in January is 05:30 in London (morning) but 13:30 in
	// Shanghai (afternoon): the file's zone must win.
	tm := time.Date(2025, 1, 15, 5, 30, 0, 0, time.UTC)
	if got := c.PartOfDay(tm); got != config.Morning {
		t.Errorf("PartOfDay(%s) = %s, want morning", tm, got)
	}
}

func BenchmarkPartOfDay(b *testing.B) {
	c := config.Default()
	tm := time.Date(2025, 1, 15, 5, 30, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.PartOfDay(tm)
	}
}
