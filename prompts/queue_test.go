package prompts

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// idList turns "num_20 num_3" into IDs, to keep the tables readable.
func idList(s string) []ID {
	var out []ID
	for f := range strings.FieldsSeq(s) {
		out = append(out, ID(f))
	}
	return out
}

func load(t testing.TB, lang string) *Catalogue {
	t.Helper()
	c, err := Load(Options{Language: lang})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNumberSpeaksCountsInEachLanguage(t *testing.T) {
	tests := []struct {
		n      int
		zh, en string
	}{
		{-1, "num_0", "num_0"}, // below the range: said as zero
		{0, "num_0", "num_0"},
		{1, "num_1", "num_1"},
		{2, "num_liang", "num_2"}, // 两位, 两分钟
		{10, "num_10", "num_10"},
		{11, "num_11", "num_11"},
		{19, "num_19", "num_19"},
		{20, "num_20", "num_20"},
		{22, "num_20 num_2", "num_20 num_2"}, // 二十二, not 二十两
		{23, "num_20 num_3", "num_20 num_3"},
		{99, "num_90 num_9", "num_90 num_9"},
		{100, "num_100", "num_100"},
		{105, "num_100 num_0 num_5", "num_100 num_5"},   // 一百零五 / one hundred five
		{110, "num_100 num_1 num_10", "num_100 num_10"}, // 一百一十
		{115, "num_100 num_1 num_15", "num_100 num_15"}, // 一百一十五
		{120, "num_100 num_20", "num_100 num_20"},
		{200, "num_liang num_hundred", "num_2 num_hundred"}, // 两百
		{202, "num_liang num_hundred num_0 num_2", "num_2 num_hundred num_2"},
		{999, "num_9 num_hundred num_90 num_9", "num_9 num_hundred num_90 num_9"},
		{1500, "num_9 num_hundred num_90 num_9", "num_9 num_hundred num_90 num_9"}, // capped at 999
	}
	zh, en := load(t, LanguageZhCN), load(t, LanguageEn)
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			if got, want := zh.Number(tt.n), idList(tt.zh); !slices.Equal(got, want) {
				t.Errorf("zh-CN Number(%d) = %v, want %v", tt.n, got, want)
			}
			if got, want := en.Number(tt.n), idList(tt.en); !slices.Equal(got, want) {
				t.Errorf("en Number(%d) = %v, want %v", tt.n, got, want)
			}
		})
	}
}

func TestNumberGivesEveryNumberUpTo999ItsOwnWordsFromTheCatalogue(t *testing.T) {
	for _, lang := range Languages() {
		c := load(t, lang)
		seen := map[string]int{}
		for n := range maxNumber + 1 {
			words := c.Number(n)
			if len(words) == 0 || len(words) > 4 {
				t.Fatalf("%s Number(%d) = %v: want 1 to 4 words", lang, n, words)
			}
			for _, id := range words {
				if c.Get(id) == nil {
					t.Fatalf("%s Number(%d) uses %q, which has no audio", lang, n, id)
				}
			}
			key := fmt.Sprint(words)
			if m, dup := seen[key]; dup {
				t.Fatalf("%s: %d and %d are both spoken as %v", lang, m, n, words)
			}
			seen[key] = n
		}
	}
}

// spoken joins the texts.tsv wording of ids as a listener hears it.
func spoken(t *testing.T, lang string, ids []ID) string {
	t.Helper()
	texts := readTexts(t)[lang]
	parts := make([]string, len(ids))
	for i, id := range ids {
		if texts[id] == "" {
			t.Fatalf("%s has no %s text", id, lang)
		}
		parts[i] = texts[id]
	}
	if lang == LanguageZhCN {
		return strings.Join(parts, "")
	}
	return strings.Join(parts, " ")
}

// R10: the caller is told how many are ahead, in a sentence that reads
// right in each language.
func TestPositionSaysHowManyCallersAreAhead(t *testing.T) {
	tests := []struct {
		ahead  int
		zh, en string
	}{
		{-1, "您现在排在第一位。", "You are first in line."},
		{0, "您现在排在第一位。", "You are first in line."},
		{1, "您前面还有一位客户在等候。", "There is one caller ahead of you."},
		{2, "您前面还有两位客户在等候。", "There are two callers ahead of you."},
		{10, "您前面还有十位客户在等候。", "There are ten callers ahead of you."},
		{11, "您前面还有十一位客户在等候。", "There are eleven callers ahead of you."},
		{19, "您前面还有十九位客户在等候。", "There are nineteen callers ahead of you."},
		{20, "您前面还有二十位客户在等候。", "There are twenty callers ahead of you."},
		{23, "您前面还有二十三位客户在等候。", "There are twenty three callers ahead of you."},
		{99, "您前面还有九十九位客户在等候。", "There are ninety nine callers ahead of you."},
		{100, "您前面还有一百位客户在等候。", "There are one hundred callers ahead of you."},
		{105, "您前面还有一百零五位客户在等候。", "There are one hundred five callers ahead of you."},
		{999, "您前面还有九百九十九位客户在等候。", "There are nine hundred ninety nine callers ahead of you."},
		{1500, "您前面还有九百九十九位客户在等候。", "There are nine hundred ninety nine callers ahead of you."},
	}
	zh, en := load(t, LanguageZhCN), load(t, LanguageEn)
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.ahead), func(t *testing.T) {
			if got := spoken(t, LanguageZhCN, zh.Position(tt.ahead)); got != tt.zh {
				t.Errorf("zh-CN Position(%d) says %q, want %q", tt.ahead, got, tt.zh)
			}
			if got := spoken(t, LanguageEn, en.Position(tt.ahead)); got != tt.en {
				t.Errorf("en Position(%d) says %q, want %q", tt.ahead, got, tt.en)
			}
		})
	}
	if got, want := zh.Position(23), idList("queue_position_pre num_20 num_3 queue_position_post"); !slices.Equal(got, want) {
		t.Errorf("zh-CN Position(23) = %v, want %v", got, want)
	}
}

// R10: the caller is told how long, rounded up so the promise is not
// shorter than the estimate.
func TestEstimatedWaitSaysMinutesRoundedUp(t *testing.T) {
	tests := []struct {
		wait   time.Duration
		zh, en string
	}{
		{-time.Second, "预计等待时间不到一分钟。", "The expected waiting time is less than a minute."},
		{0, "预计等待时间不到一分钟。", "The expected waiting time is less than a minute."},
		{20 * time.Second, "预计等待时间不到一分钟。", "The expected waiting time is less than a minute."},
		{59*time.Second + 999*time.Millisecond, "预计等待时间不到一分钟。", "The expected waiting time is less than a minute."},
		{60 * time.Second, "预计等待时间约一分钟。", "The expected waiting time is about one minute."},
		{61 * time.Second, "预计等待时间约两分钟。", "The expected waiting time is about two minutes."},
		{2 * time.Minute, "预计等待时间约两分钟。", "The expected waiting time is about two minutes."},
		{7 * time.Minute, "预计等待时间约七分钟。", "The expected waiting time is about seven minutes."},
		{7*time.Minute + time.Second, "预计等待时间约八分钟。", "The expected waiting time is about eight minutes."},
		{22 * time.Minute, "预计等待时间约二十二分钟。", "The expected waiting time is about twenty two minutes."},
		{1000 * time.Hour, "预计等待时间约九百九十九分钟。", "The expected waiting time is about nine hundred ninety nine minutes."},
		{math.MaxInt64, "预计等待时间约九百九十九分钟。", "The expected waiting time is about nine hundred ninety nine minutes."},
	}
	zh, en := load(t, LanguageZhCN), load(t, LanguageEn)
	for _, tt := range tests {
		t.Run(tt.wait.String(), func(t *testing.T) {
			if got := spoken(t, LanguageZhCN, zh.EstimatedWait(tt.wait)); got != tt.zh {
				t.Errorf("zh-CN EstimatedWait(%v) says %q, want %q", tt.wait, got, tt.zh)
			}
			if got := spoken(t, LanguageEn, en.EstimatedWait(tt.wait)); got != tt.en {
				t.Errorf("en EstimatedWait(%v) says %q, want %q", tt.wait, got, tt.en)
			}
		})
	}
	if got, want := en.EstimatedWait(7*time.Minute), idList("queue_wait_pre num_7 queue_wait_minutes"); !slices.Equal(got, want) {
		t.Errorf("en EstimatedWait(7m) = %v, want %v", got, want)
	}
}

// R9 holds for what the caller actually hears: the fragments and number
// words played back to back.
func TestMandarinQueueSentencesSpeakAtTheHousePace(t *testing.T) {
	c := load(t, LanguageZhCN)
	texts := readTexts(t)[LanguageZhCN]
	var sentences [][]ID
	for _, n := range []int{2, 5, 11, 23, 99, 105} {
		sentences = append(sentences, c.Position(n), c.EstimatedWait(time.Duration(n)*time.Minute))
	}
	for _, ids := range sentences {
		chars, samples := 0, 0
		for _, id := range ids {
			chars += syllables(texts[id])
			samples += c.Get(id).Samples
		}
		s := float64(samples) / SampleRate
		if pace := float64(chars) / s * 60; pace < 90 || pace > 150 {
			t.Errorf("%v: %d characters in %.2f s = %.0f per minute, want 90 to 150", ids, chars, s, pace)
		}
	}
}

// R10 and R3: the music plays on a loop for as long as the caller waits, so
// the join must be inaudible and the music never silent.
func TestMusicLoopsSeamlessly(t *testing.T) {
	zh, en := load(t, LanguageZhCN), load(t, LanguageEn)
	a := zh.Get(Music)
	if !bytes.Equal(a.PCMU, en.Get(Music).PCMU) {
		t.Error("zh-CN and en music differ; there is one hold music")
	}
	if d := a.Duration(); d < 20*time.Second || d > 30*time.Second {
		t.Errorf("Duration = %v, want 20 to 30 s", d)
	}
	// A player repeats whole frames: padding silence would sit at the join.
	if a.Samples%FrameSize != 0 {
		t.Errorf("%d samples are not whole %d-sample frames: the loop would gap", a.Samples, FrameSize)
	}
	s := decodePCMU(a.PCMU, a.Samples)

	steps := make([]float64, len(s)-1)
	for i := range steps {
		steps[i] = math.Abs(float64(s[i+1]) - float64(s[i]))
	}
	slices.Sort(steps)
	typical := steps[len(steps)*9/10]
	if join := math.Abs(float64(s[0]) - float64(s[len(s)-1])); join > typical {
		t.Errorf("join from the last sample (%d) to the first (%d) steps %.0f; typical steps are up to %.0f: it clicks",
			s[len(s)-1], s[0], join, typical)
	}

	// About -18 dBFS RMS: audible under speech, not louder than it.
	if r := rms(s); r < 2900 || r > 5800 {
		t.Errorf("RMS = %.0f (%.1f dBFS), want -21 to -15 dBFS", r, 20*math.Log10(r/32768))
	}
	var peak int
	for _, v := range s {
		peak = max(peak, int(math.Abs(float64(v))))
	}
	if peak >= 32000 {
		t.Errorf("peak %d: the music clips", peak)
	}
	// Never silence (R10): every second, the join included, is audible.
	loop := append(slices.Clone(s), s[:SampleRate]...)
	for at := 0; at < len(s); at += SampleRate / 4 {
		if r := rms(loop[at : at+SampleRate]); r < 600 {
			t.Fatalf("second from %.2f s has RMS %.0f: the caller would hear silence", float64(at)/SampleRate, r)
		}
	}
}

func TestOverridesReplaceQueuePromptsMusicAndNumberWords(t *testing.T) {
	music := writeFile(t, "music.wav", wavSpec{data: pcmBytes(tone(330, 8000, 6000, 16000))}.bytes())
	three := writeFile(t, "three.wav", wavSpec{data: pcmBytes(tone(440, 8000, 9000, 3200))}.bytes())
	welcome := writeFile(t, "welcome.wav", wavSpec{data: pcmBytes(tone(550, 8000, 9000, 8000))}.bytes())
	c, err := Load(Options{Language: "en", Overrides: map[string]string{
		"music": music, "num_3": three, "queue_welcome": welcome,
	}})
	if err != nil {
		t.Fatal(err)
	}
	for id, file := range map[ID]string{Music: music, "num_3": three, QueueWelcome: welcome} {
		if src := c.Get(id).Source; src != file {
			t.Errorf("%s from %q, want %q", id, src, file)
		}
	}
	if src := c.Get(QueueReassurance).Source; src != "built-in:en" {
		t.Errorf("queue_reassurance from %q", src)
	}
	// The number still picks the word; the word now plays the override.
	if got := c.Number(23); c.Get(got[1]).Source != three {
		t.Errorf("Number(23) = %v does not play the overridden three", got)
	}
}

func TestBuiltInAudioIsStoredAsMuLaw(t *testing.T) {
	ulaw := []byte{0xFF, 0x80, 0x00, 0x7E, 0xCE, 0x4E} // not 0x7f: the second zero re-encodes as 0xff
	file := wavSpec{tag: formatMuLaw, bits: 8, data: ulaw}.bytes()
	got, err := decodeBuiltInWAV(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	want := decodePCMU(ulaw, len(ulaw))
	if !slices.Equal(got, want) {
		t.Errorf("decoded %v, want %v", got, want)
	}
	// Re-encoding to μ-law is exact, so PCMU calls hear the stored bytes.
	if a := encode(Music, got, "test"); !bytes.Equal(a.PCMU[:len(ulaw)], ulaw) {
		t.Errorf("PCMU = % x, want the stored % x", a.PCMU[:len(ulaw)], ulaw)
	}
	pcm := wavSpec{data: pcmBytes(tone(440, 8000, 8000, 100))}.bytes()
	if _, err := decodeBuiltInWAV(bytes.NewReader(pcm), -1); err == nil || !strings.Contains(err.Error(), "want 8000 Hz mono μ-law") {
		t.Errorf("16-bit PCM as built-in: err = %v, want a refusal naming μ-law", err)
	}
	// Operators keep the documented 16-bit PCM contract.
	if _, err := DecodeWAV(bytes.NewReader(file)); err == nil {
		t.Error("DecodeWAV accepted μ-law from an operator file")
	}
}

func FuzzDecodeBuiltInWAV(f *testing.F) {
	f.Add(wavSpec{tag: formatMuLaw, bits: 8, data: []byte{1, 2, 3}}.bytes())
	f.Add(wavSpec{tag: formatMuLaw, bits: 8, rate: 16000, data: []byte{1, 2}}.bytes())
	f.Add(wavSpec{data: pcmBytes(tone(440, 8000, 8000, 64))}.bytes())
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\x7f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		samples, err := decodeBuiltInWAV(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if samples != nil {
				t.Fatal("samples returned with an error")
			}
			return
		}
		if len(samples) > len(data) {
			t.Fatalf("%d samples from %d bytes", len(samples), len(data))
		}
	})
}

func BenchmarkEstimatedWait(b *testing.B) {
	c := load(b, LanguageZhCN)
	b.ReportAllocs()
	for b.Loop() {
		c.EstimatedWait(23 * time.Minute)
	}
}
