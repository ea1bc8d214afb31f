package prompts

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadChoosesTheLanguage(t *testing.T) {
	tests := []struct {
		lang, want string
	}{
		{"", "zh-CN"}, // Mandarin is the default catalogue
		{"zh-CN", "zh-CN"},
		{"zh-cn", "zh-CN"},
		{"en", "en"},
		{"EN", "en"},
	}
	for _, tt := range tests {
		c, err := Load(Options{Language: tt.lang})
		if err != nil {
			t.Fatalf("Load(%q): %v", tt.lang, err)
		}
		if c.Language() != tt.want {
			t.Errorf("Load(%q).Language() = %q, want %q", tt.lang, c.Language(), tt.want)
		}
		if src := c.Get(Hours).Source; src != "built-in:"+tt.want {
			t.Errorf("Load(%q): hours from %q", tt.lang, src)
		}
	}
	zh, _ := Load(Options{})
	en, _ := Load(Options{Language: "en"})
	if bytes.Equal(zh.Get(Menu).PCMU, en.Get(Menu).PCMU) {
		t.Error("zh-CN and en menus are the same audio")
	}
}

func TestLoadRefusesUnknownLanguage(t *testing.T) {
	for _, lang := range []string{"fr", "zh", "zh-TW", "en-US "} {
		if _, err := Load(Options{Language: lang}); !errors.Is(err, ErrUnknownLanguage) {
			t.Errorf("Load(%q): err = %v, want ErrUnknownLanguage", lang, err)
		}
	}
}

func TestGetReturnsNilForUnknownPrompt(t *testing.T) {
	c, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Get("hold_music"); a != nil {
		t.Errorf("Get(unknown) = %+v, want nil", a)
	}
}

func TestOverrideReplacesOnlyItsPrompt(t *testing.T) {
	in := tone(700, 8000, 9000, 4000)
	file := writeFile(t, "hours.wav", wavSpec{data: pcmBytes(in)}.bytes())
	c, err := Load(Options{Overrides: map[string]string{"hours": file, "menu": ""}})
	if err != nil {
		t.Fatal(err)
	}
	a := c.Get(Hours)
	if a.Source != file {
		t.Errorf("Source = %q, want %q", a.Source, file)
	}
	if a.Samples != len(in) || len(a.PCMU) != 4000 {
		t.Errorf("Samples = %d, len(PCMU) = %d, want 4000 and 4000", a.Samples, len(a.PCMU))
	}
	if want := encode(Hours, in, file); !bytes.Equal(a.PCMU, want.PCMU) || !bytes.Equal(a.PCMA, want.PCMA) {
		t.Error("override audio is not the file's samples encoded")
	}
	if src := c.Get(Menu).Source; src != "built-in:zh-CN" {
		t.Errorf("empty override path replaced menu with %q", src)
	}
	if src := c.Get(OfferHelp).Source; src != "built-in:zh-CN" {
		t.Errorf("offer_help from %q", src)
	}
}

func TestOverrideAt16kHzIsDecimatedTo8kHz(t *testing.T) {
	in := tone(1000, 16000, 10000, 16000)
	file := writeFile(t, "menu.wav", wavSpec{rate: 16000, data: pcmBytes(in)}.bytes())
	c, err := Load(Options{Language: "en", Overrides: map[string]string{"menu": file}})
	if err != nil {
		t.Fatal(err)
	}
	a := c.Get(Menu)
	if a.Samples != 8000 {
		t.Errorf("Samples = %d, want 8000 (half of 16000)", a.Samples)
	}
	got := decodePCMU(a.PCMU, a.Samples)[200 : a.Samples-200]
	if hz := zeroCrossingHz(got); math.Abs(hz-1000) > 10 {
		t.Errorf("plays a %.1f Hz tone, want 1000 Hz", hz)
	}
}

func TestOverrideErrorsNameThePromptAndFile(t *testing.T) {
	pcm := pcmBytes(tone(440, 8000, 8000, 800))
	valid := wavSpec{data: pcm}.bytes()
	tests := []struct {
		name string
		file []byte // nil: the file does not exist
		want error
		says string
	}{
		{"stereo", wavSpec{channels: 2, data: pcm}.bytes(), ErrUnsupportedWAV, "8000 Hz stereo; want 8000 or 16000 Hz mono 16-bit PCM"},
		{"44.1 kHz stereo", wavSpec{channels: 2, rate: 44100, data: pcm}.bytes(), ErrUnsupportedWAV, "44100 Hz stereo; want 8000 or 16000 Hz mono 16-bit PCM"},
		{"8-bit", wavSpec{bits: 8, data: pcm}.bytes(), ErrUnsupportedWAV, "8-bit"},
		{"truncated", valid[:len(valid)-100], ErrMalformedWAV, "truncated"},
		{"not RIFF", []byte("OggS\x00\x02 not a wav file at all"), ErrMalformedWAV, "not a RIFF/WAVE file"},
		{"no samples", wavSpec{}.bytes(), ErrMalformedWAV, "no audio"},
		{"missing file", nil, fs.ErrNotExist, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hours.wav")
			if tt.file != nil {
				path = writeFile(t, "hours.wav", tt.file)
			}
			c, err := Load(Options{Overrides: map[string]string{"hours": path}})
			if c != nil {
				t.Error("catalogue returned with an error")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "prompts.hours: ") || !strings.Contains(msg, path) || !strings.Contains(msg, tt.says) {
				t.Errorf("err = %q, want prompts.hours, %s and %q", msg, path, tt.says)
			}
		})
	}
	// The message format operators see in the logs, exactly.
	path := writeFile(t, "y.wav", wavSpec{channels: 2, rate: 44100, data: pcm}.bytes())
	_, err := Load(Options{Overrides: map[string]string{"hours": path}})
	if want := "prompts.hours: " + path + ": 44100 Hz stereo; want 8000 or 16000 Hz mono 16-bit PCM"; err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

func TestOverrideOfUnknownPromptIsRefused(t *testing.T) {
	file := writeFile(t, "x.wav", wavSpec{data: pcmBytes(tone(440, 8000, 8000, 800))}.bytes())
	_, err := Load(Options{Overrides: map[string]string{"hours": file, "greeting": file}})
	if !errors.Is(err, ErrUnknownPrompt) {
		t.Fatalf("err = %v, want ErrUnknownPrompt", err)
	}
	if !strings.Contains(err.Error(), "prompts.greeting") || !strings.Contains(err.Error(), "greet_morning") {
		t.Errorf("err = %q, want it to name the bad ID and list the known ones", err)
	}
}

func TestCompanyAudioReplacesTheCompanyPrompt(t *testing.T) {
	file := writeFile(t, "acme.wav", wavSpec{data: pcmBytes(tone(500, 8000, 9000, 6000))}.bytes())
	other := writeFile(t, "other.wav", wavSpec{data: pcmBytes(tone(300, 8000, 9000, 2000))}.bytes())
	c, err := Load(Options{
		CompanyAudio: file,
		CompanyName:  "Acme", // the recording wins over rendering the name
		Overrides:    map[string]string{"company": other},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Get(Company); a.Source != file || a.Samples != 6000 {
		t.Errorf("company from %q with %d samples, want %q with 6000", a.Source, a.Samples, file)
	}

	bad := writeFile(t, "bad.wav", wavSpec{bits: 8, data: make([]byte, 100)}.bytes())
	if _, err := Load(Options{CompanyAudio: bad}); !errors.Is(err, ErrUnsupportedWAV) || !strings.Contains(err.Error(), "prompts.company: "+bad) {
		t.Errorf("bad company audio: err = %v", err)
	}
}

// logBuffer captures Load's log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func TestCompanyNameIsRenderedWithEspeakNG(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng is not on PATH: company-name rendering cannot be exercised (apt-get install espeak-ng)")
	}
	tests := []struct {
		lang, name string
	}{
		{"zh-CN", "星光电器客服中心"},
		{"en", "Starlight Appliances"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			builtin, err := Load(Options{Language: tt.lang})
			if err != nil {
				t.Fatal(err)
			}
			log, logs := newLogger()
			c, err := Load(Options{Language: tt.lang, CompanyName: tt.name, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			a := c.Get(Company)
			if a.Source != "espeak-ng:"+tt.lang {
				t.Errorf("Source = %q, want espeak-ng:%s", a.Source, tt.lang)
			}
			if bytes.Equal(a.PCMU, builtin.Get(Company).PCMU) {
				t.Error("rendered company audio is the built-in audio")
			}
			if d := a.Duration().Seconds(); d < 0.3 || d > 8 {
				t.Errorf("Duration = %.2f s, want 0.3 to 8", d)
			}
			if len(a.PCMU)%FrameSize != 0 || len(a.PCMA) != len(a.PCMU) {
				t.Errorf("len(PCMU) = %d, len(PCMA) = %d: not whole frames", len(a.PCMU), len(a.PCMA))
			}
			if r := rms(decodePCMU(a.PCMU, a.Samples)); r < 1000 {
				t.Errorf("RMS = %.0f: rendered name is (nearly) silent", r)
			}
			if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), "rendered company name") {
				t.Errorf("no Info log of the rendering: %s", logs)
			}
			if src := c.Get(Hours).Source; src != "built-in:"+tt.lang {
				t.Errorf("hours from %q", src)
			}
		})
	}
}

func TestCompanyNameNeedsNoRenderingWhenItIsTheBuiltInName(t *testing.T) {
	// An empty PATH proves espeak-ng is not even looked for.
	t.Setenv("PATH", t.TempDir())
	for lang, name := range builtInCompanyName {
		log, logs := newLogger()
		c, err := Load(Options{Language: lang, CompanyName: " " + name + " ", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if src := c.Get(Company).Source; src != "built-in:"+lang {
			t.Errorf("%s: company from %q", lang, src)
		}
		if logs.String() != "" {
			t.Errorf("%s: unexpected log: %s", lang, logs)
		}
	}
}

func TestCompanyNameKeepsBuiltInWithWarningWhenEspeakNGIsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	log, logs := newLogger()
	c, err := Load(Options{CompanyName: "星光电器", Logger: log})
	if err != nil {
		t.Fatalf("missing espeak-ng must not fail Load: %v", err)
	}
	if src := c.Get(Company).Source; src != "built-in:zh-CN" {
		t.Errorf("company from %q, want the built-in", src)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "espeak-ng not on PATH") {
		t.Errorf("want a warning naming espeak-ng, got: %s", out)
	}
}

func TestCompanyNameKeepsBuiltInWithWarningWhenRenderingFails(t *testing.T) {
	tests := []struct {
		name, script string
	}{
		{"espeak-ng exits with an error", "#!/bin/sh\necho 'voice broken' >&2\nexit 1\n"},
		{"espeak-ng writes garbage", "#!/bin/sh\nfor a; do out=$2; [ \"$1\" = -w ] && break; shift; done\necho garbage > \"$out\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "espeak-ng"), []byte(tt.script), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", dir)
			log, logs := newLogger()
			c, err := Load(Options{Language: "en", CompanyName: "Acme", Logger: log})
			if err != nil {
				t.Fatalf("rendering failure must not fail Load: %v", err)
			}
			if src := c.Get(Company).Source; src != "built-in:en" {
				t.Errorf("company from %q, want the built-in", src)
			}
			if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "rendering company name failed") {
				t.Errorf("want a rendering warning, got: %s", out)
			}
		})
	}
}

func TestCompanyOverrideFileSuppressesRendering(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	file := writeFile(t, "company.wav", wavSpec{data: pcmBytes(tone(500, 8000, 9000, 3000))}.bytes())
	log, logs := newLogger()
	c, err := Load(Options{CompanyName: "星光电器", Overrides: map[string]string{"company": file}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if src := c.Get(Company).Source; src != file {
		t.Errorf("company from %q, want %q", src, file)
	}
	if strings.Contains(logs.String(), "espeak-ng") {
		t.Errorf("rendering attempted despite a company file: %s", logs)
	}
}

func TestCatalogueIsSafeForConcurrentReaders(t *testing.T) {
	c, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, id := range IDs() {
				if a := c.Get(id); a == nil || len(a.Payload(0)) == 0 {
					t.Errorf("Get(%s) failed under concurrency", id)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkLoad(b *testing.B) {
	for _, lang := range Languages() {
		b.Run(lang, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(Options{Language: lang}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
