package prompts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRenderSpeaksTextOnceAndCachesIt(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng is not on PATH: Render cannot be exercised (apt-get install espeak-ng)")
	}
	tests := []struct {
		lang, text, other string
	}{
		{"zh-CN", "售后服务", "投诉建议"},
		{"en", "sales", "billing"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			log, logs := newLogger()
			c, err := Load(Options{Language: tt.lang, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			// Concurrent first calls share one rendering.
			got := make([]*Audio, 8)
			var wg sync.WaitGroup
			for i := range got {
				wg.Go(func() { got[i] = c.Render(tt.text) })
			}
			wg.Wait()
			a := got[0]
			if a == nil {
				t.Fatalf("Render(%q) = nil; log: %s", tt.text, logs)
			}
			for i, b := range got {
				if b != a {
					t.Fatalf("call %d returned a different *Audio for the same text", i)
				}
			}
			if again := c.Render(tt.text); again != a {
				t.Error("a later call rendered the text again instead of using the cache")
			}
			if n := strings.Count(logs.String(), "rendered text"); n != 1 {
				t.Errorf("rendered %d times, want once: %s", n, logs)
			}
			if a.ID != ID(RenderedPrefix+tt.text) || a.Source != "espeak-ng:"+tt.lang {
				t.Errorf("ID %q, Source %q", a.ID, a.Source)
			}
			if Known(a.ID) {
				t.Errorf("rendered ID %q collides with the catalogue", a.ID)
			}
			if d := a.Duration().Seconds(); d < 0.3 || d > 5 {
				t.Errorf("Duration = %.2f s, want 0.3 to 5", d)
			}
			if len(a.PCMU)%FrameSize != 0 || len(a.PCMA) != len(a.PCMU) {
				t.Errorf("len(PCMU) = %d, len(PCMA) = %d: not whole frames", len(a.PCMU), len(a.PCMA))
			}
			if r := rms(decodePCMU(a.PCMU, a.Samples)); r < 1000 {
				t.Errorf("RMS = %.0f: rendered text is (nearly) silent", r)
			}
			if b := c.Render(tt.other); b == nil || b == a {
				t.Errorf("Render(%q) = %p, want its own audio", tt.other, b)
			}
		})
	}
}

func TestRenderReturnsNilAndWarnsOnceWithoutEspeakNG(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	log, logs := newLogger()
	c, err := Load(Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if a := c.Render("售后服务"); a != nil {
			t.Fatalf("Render = %+v without espeak-ng", a)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "espeak-ng not on PATH") {
		t.Errorf("want one warning naming espeak-ng, got: %s", out)
	}
}

func TestRenderReturnsNilWhenEspeakNGFails(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'voice broken' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "espeak-ng"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	log, logs := newLogger()
	c, err := Load(Options{Language: "en", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Render("sales"); a != nil {
		t.Fatalf("Render = %+v from a failing espeak-ng", a)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "rendering text failed") || !strings.Contains(out, "voice broken") {
		t.Errorf("want a warning with espeak-ng's complaint, got: %s", out)
	}
}

func TestRenderRefusesTextThatIsNotAName(t *testing.T) {
	// Refused before espeak-ng is looked for, so no PATH is needed.
	t.Setenv("PATH", t.TempDir())
	tests := []struct{ name, text, says string }{
		{"empty", "", "nothing to say"},
		{"only spaces and controls", " \t\n ", "nothing to say"},
		{"not UTF-8", "sales\xff", "not valid UTF-8"},
		{"too long", strings.Repeat("长", maxRenderRunes+1), "at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := newLogger()
			c, err := Load(Options{Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			if a := c.Render(tt.text); a != nil {
				t.Fatalf("Render(%q) = %+v", tt.text, a)
			}
			if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, tt.says) {
				t.Errorf("want a warning saying %q, got: %s", tt.says, out)
			}
		})
	}
}
