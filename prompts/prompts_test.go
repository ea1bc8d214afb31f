package prompts

import (
	"bufio"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

// maxPromptDuration bounds a single built-in spoken prompt. The longest
// zh-CN prompts have 23 syllables; at the R9 pace of about 120 characters a
// minute they need about 11.5 s of speech plus the pauses at commas.
const maxPromptDuration = 14 * time.Second

// durationBounds says how long each kind of built-in prompt may play: a
// number word is one or two syllables, the music a loop of 20 to 30 s.
func durationBounds(id ID) (low, high time.Duration) {
	switch {
	case id == Music:
		return 20 * time.Second, 30 * time.Second
	case isNumberWord(id):
		return 150 * time.Millisecond, 1500 * time.Millisecond
	}
	return 300 * time.Millisecond, maxPromptDuration
}

func isNumberWord(id ID) bool {
	return slices.Contains(numberIDs, id)
}

func TestEveryPromptHasAudibleBuiltInAudioInEveryLanguage(t *testing.T) {
	for _, lang := range Languages() {
		c, err := Load(Options{Language: lang})
		if err != nil {
			t.Fatalf("Load(%s): %v", lang, err)
		}
		for _, id := range IDs() {
			t.Run(lang+"/"+string(id), func(t *testing.T) {
				a := c.Get(id)
				if a == nil {
					t.Fatal("no audio")
				}
				if a.ID != id {
					t.Errorf("ID = %q", a.ID)
				}
				if want := "built-in:" + lang; a.Source != want {
					t.Errorf("Source = %q, want %q", a.Source, want)
				}
				if low, high := durationBounds(id); a.Duration() < low || a.Duration() > high {
					t.Errorf("Duration = %v, want %v to %v", a.Duration(), low, high)
				}
				if len(a.PCMU) == 0 || len(a.PCMU)%FrameSize != 0 {
					t.Errorf("len(PCMU) = %d, want a positive multiple of %d", len(a.PCMU), FrameSize)
				}
				if len(a.PCMA) != len(a.PCMU) {
					t.Errorf("len(PCMA) = %d, len(PCMU) = %d", len(a.PCMA), len(a.PCMU))
				}
				if pad := len(a.PCMU) - a.Samples; pad < 0 || pad >= FrameSize {
					t.Errorf("%d samples in %d bytes: padding %d is not less than one frame", a.Samples, len(a.PCMU), pad)
				}
				for i := a.Samples; i < len(a.PCMU); i++ {
					if a.PCMU[i] != 0xFF || a.PCMA[i] != 0xD5 {
						t.Fatalf("padding byte %d = %#x/%#x, want μ-law 0xff / A-law 0xd5 silence", i, a.PCMU[i], a.PCMA[i])
					}
				}
				// Normalised to -3 dBFS peak, speech sits well above -30 dBFS
				// RMS; the music at -18 dBFS RMS too.
				if r := rms(decodePCMU(a.PCMU, a.Samples)); r < 1000 {
					t.Errorf("RMS = %.0f, want above 1000: prompt is (nearly) silent", r)
				}
			})
		}
	}
}

// readTexts parses texts.tsv, the single source of the prompt wording.
func readTexts(t *testing.T) map[string]map[ID]string {
	t.Helper()
	f, err := os.Open("texts.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	texts := map[string]map[ID]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		row := sc.Text()
		if row == "" || strings.HasPrefix(row, "#") {
			continue
		}
		cols := strings.Split(row, "\t")
		if len(cols) < 3 {
			t.Fatalf("texts.tsv:%d: %d columns, want id, lang, text[, say]", line, len(cols))
		}
		if texts[cols[1]] == nil {
			texts[cols[1]] = map[ID]string{}
		}
		texts[cols[1]][ID(cols[0])] = cols[2]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return texts
}

func TestTextsTableAndEmbeddedAudioCoverExactlyTheCatalogue(t *testing.T) {
	texts := readTexts(t)
	for _, lang := range Languages() {
		for _, id := range IDs() {
			if languageIndependent(id) {
				if texts[lang][id] != "" {
					t.Errorf("texts.tsv has a %s row for %s, which is not speech", lang, id)
				}
				continue
			}
			if texts[lang][id] == "" {
				t.Errorf("texts.tsv has no %s text for %s", lang, id)
			}
		}
	}
	for lang, rows := range texts {
		if _, err := canonicalLanguage(lang); err != nil {
			t.Errorf("texts.tsv language %q: %v", lang, err)
		}
		for id := range rows {
			if !Known(id) {
				t.Errorf("texts.tsv row %s/%s is not a catalogue prompt", lang, id)
			}
		}
	}
	// No stray files: everything embedded is reachable, so the binary
	// carries no dead audio.
	err := fs.WalkDir(builtIn, "audio", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		parts := strings.Split(strings.TrimSuffix(p, ".wav"), "/")
		switch {
		case len(parts) == 2 && languageIndependent(ID(parts[1])):
		case len(parts) != 3 || texts[parts[1]][ID(parts[2])] == "":
			t.Errorf("embedded %s has no row in texts.tsv", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// syllables counts the spoken syllables of Mandarin text: one per Han
// character or digit.
func syllables(text string) int {
	n := 0
	for _, r := range text {
		if unicode.Is(unicode.Han, r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// R9: the built-in Mandarin prompts speak at about 120 characters a minute.
// Number words are measured inside the sentences they are heard in (see
// TestMandarinQueueSentencesSpeakAtTheHousePace): one syllable said alone
// has no pace to speak of.
func TestMandarinPromptsSpeakAtTheHousePace(t *testing.T) {
	texts := readTexts(t)[LanguageZhCN]
	c, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var chars, seconds float64
	for _, id := range IDs() {
		if languageIndependent(id) || isNumberWord(id) {
			continue
		}
		n := syllables(texts[id])
		s := float64(c.Get(id).Samples) / SampleRate
		if pace := float64(n) / s * 60; pace < 90 || pace > 150 {
			t.Errorf("%s: %d characters in %.2f s = %.0f per minute, want 90 to 150", id, n, s, pace)
		}
		chars += float64(n)
		seconds += s
	}
	if pace := chars / seconds * 60; pace < 110 || pace > 130 {
		t.Errorf("overall pace %.0f characters per minute, want about 120 (110 to 130)", pace)
	}
}

func TestEmbeddedAudioStaysSmall(t *testing.T) {
	var total int64
	err := fs.WalkDir(builtIn, "audio", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// μ-law storage keeps every prompt of both languages and the music
	// at about 2 MB.
	if total >= 3_000_000 {
		t.Errorf("embedded audio is %d bytes, want under 3 MB", total)
	}
}

func TestPayloadSelectsTheEncodingByRTPPayloadType(t *testing.T) {
	a := encode(Hours, tone(440, SampleRate, 8000, 400), "test")
	tests := []struct {
		name string
		pt   uint8
		want []byte
	}{
		{"0 is PCMU", 0, a.PCMU},
		{"8 is PCMA", 8, a.PCMA},
		{"18 (G.729) is not available", 18, nil},
		{"101 (telephone-event) is not audio", 101, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := a.Payload(tt.pt)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("Payload(%d) = %d bytes, want nil", tt.pt, len(got))
				}
				return
			}
			if len(got) != len(tt.want) || &got[0] != &tt.want[0] {
				t.Fatalf("Payload(%d) is not the %d-byte encoding", tt.pt, len(tt.want))
			}
		})
	}
	if string(a.PCMU) == string(a.PCMA) {
		t.Error("PCMU and PCMA encodings are identical")
	}
}

func TestDurationCountsWholeFramesAsPlayed(t *testing.T) {
	tests := []struct {
		samples int
		want    time.Duration
	}{
		{1, 20 * time.Millisecond},
		{160, 20 * time.Millisecond},
		{161, 40 * time.Millisecond},
		{8000, time.Second},
	}
	for _, tt := range tests {
		a := encode(Menu, make([]int16, tt.samples), "test")
		if got := a.Duration(); got != tt.want {
			t.Errorf("%d samples: Duration = %v, want %v", tt.samples, got, tt.want)
		}
		if a.Samples != tt.samples {
			t.Errorf("Samples = %d, want %d", a.Samples, tt.samples)
		}
	}
}

func TestEncodingUsesG711OfEachSample(t *testing.T) {
	in := []int16{0, 1000, -1000, 32767, -32768}
	a := encode(Menu, in, "test")
	wantU := []byte{0xFF, 0xCE, 0x4E, 0x80, 0x00}
	wantA := []byte{0xD5, 0xFA, 0x7A, 0xAA, 0x2A}
	if string(a.PCMU[:len(in)]) != string(wantU) {
		t.Errorf("PCMU = % x, want % x", a.PCMU[:len(in)], wantU)
	}
	if string(a.PCMA[:len(in)]) != string(wantA) {
		t.Errorf("PCMA = % x, want % x", a.PCMA[:len(in)], wantA)
	}
}

func TestIDsAreStableAndKnown(t *testing.T) {
	want := []ID{
		"greet_morning", "greet_noon", "greet_afternoon", "greet_evening",
		"company", "offer_help", "menu", "hours", "invalid_choice", "no_agent",
		"closing_anything_else", "closing_thanks",
		"queue_welcome", "queue_reassurance", "queue_position_first", "queue_position_one",
		"queue_position_pre", "queue_position_post", "queue_wait_one_minute", "queue_wait_pre",
		"queue_wait_minutes", "queue_wait_less_than_minute", "queue_timeout", "queue_connecting",
		"whisper_call", "hold_pre", "hold_one_minute", "hold_minutes", "hold_apology", "transfer_wait", "transfer_failed",
		"transfer_whisper", "transfer_waited_pre", "transfer_waited_under_minute", "transfer_press_one", "agent_ready", "agent_not_ready", "music",
		"num_0", "num_1", "num_2", "num_3", "num_4", "num_5", "num_6", "num_7", "num_8", "num_9",
		"num_10", "num_11", "num_12", "num_13", "num_14", "num_15", "num_16", "num_17", "num_18", "num_19",
		"num_20", "num_30", "num_40", "num_50", "num_60", "num_70", "num_80", "num_90", "num_100",
		"num_hundred", "num_liang",
	}
	got := IDs()
	if len(got) != len(want) {
		t.Fatalf("IDs() = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("IDs()[%d] = %q, want %q", i, got[i], want[i])
		}
		if !Known(want[i]) {
			t.Errorf("Known(%q) = false", want[i])
		}
	}
	got[0] = "mutated"
	if IDs()[0] != GreetMorning {
		t.Error("IDs() shares its backing array with callers")
	}
	for _, id := range []ID{"", "greeting", "GREET_MORNING", "company ", "num_21", "num_200", "hold_music", RenderedPrefix + "sales"} {
		if Known(id) {
			t.Errorf("Known(%q) = true", id)
		}
	}
}
