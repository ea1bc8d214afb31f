package analysis

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// speechDir is the labelled speech beside the repository (../shared/speech
// from the repository root).
const speechDir = "../../shared/speech"

// labelled is one labelled file of either public set.
type labelled struct {
	Name     string
	Path     string
	Lang     string // "cmn" or "en"
	Variant  string // "clean", "noise", "ulaw" (espeak files are "clean")
	Speech   [][2]float64
	Silence  [][2]float64
	Rate     float64 // labelled syllables (Mandarin characters) per minute of speech
	WPM      float64 // English only
	Longest  float64 // longest inserted silence, s
	DeadAir  bool
	Duration float64
}

// loadCorpus reads both manifests, or skips the test when the labelled
// speech is not beside the repository.
func loadCorpus(t testing.TB) []labelled {
	t.Helper()
	if _, err := os.Stat(filepath.Join(speechDir, "manifest.json")); err != nil {
		t.Skipf("labelled speech not found at %s (expected ../shared/speech beside the repository): %v", speechDir, err)
	}
	var out []labelled

	var es struct {
		Files []struct {
			File                  string       `json:"file"`
			Lang                  string       `json:"lang"`
			Duration              float64      `json:"duration_s"`
			Speech                [][2]float64 `json:"speech_intervals"`
			Silence               [][2]float64 `json:"silence_intervals"`
			CharsPerMin           float64      `json:"chars_per_min"`
			WordsPerMin           float64      `json:"words_per_min"`
			SyllablesPerMinApprox float64      `json:"syllables_per_min_approx"`
		} `json:"files"`
	}
	readJSON(t, filepath.Join(speechDir, "manifest.json"), &es)
	for _, f := range es.Files {
		l := labelled{Name: f.File, Path: filepath.Join(speechDir, f.File), Lang: f.Lang, Variant: "clean",
			Speech: f.Speech, Silence: f.Silence, Duration: f.Duration, Rate: f.CharsPerMin}
		if f.Lang == "en" {
			l.Rate, l.WPM = f.SyllablesPerMinApprox, f.WordsPerMin
		}
		l.Longest = longest(f.Silence)
		out = append(out, l)
	}

	var hu struct {
		Files []struct {
			File     string       `json:"file"`
			Variant  string       `json:"variant"`
			Duration float64      `json:"duration_s"`
			Speech   [][2]float64 `json:"speech_intervals"`
			Silence  [][2]float64 `json:"silence_intervals"`
			Rate     float64      `json:"syllables_per_min"`
			Longest  float64      `json:"longest_silence_s"`
			DeadAir  bool         `json:"dead_air"`
		} `json:"files"`
	}
	readJSON(t, filepath.Join(speechDir, "human", "manifest.json"), &hu)
	for _, f := range hu.Files {
		out = append(out, labelled{Name: "human/" + f.File, Path: filepath.Join(speechDir, "human", f.File),
			Lang: "cmn", Variant: f.Variant, Speech: f.Speech, Silence: f.Silence, Rate: f.Rate,
			Longest: f.Longest, DeadAir: f.DeadAir, Duration: f.Duration})
	}
	return out
}

func longest(iv [][2]float64) float64 {
	m := 0.0
	for _, s := range iv {
		m = max(m, s[1]-s[0])
	}
	return m
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

// readWAV returns the samples of an 8 kHz mono 16-bit PCM WAV file.
func readWAV(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	var fmtOK bool
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8 : min(len(b), p+8+size)]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, errors.New("short fmt chunk")
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			ch := binary.LittleEndian.Uint16(body[2:4])
			rate := binary.LittleEndian.Uint32(body[4:8])
			bits := binary.LittleEndian.Uint16(body[14:16])
			if format != 1 || ch != 1 || rate != SampleRate || bits != 16 {
				return nil, fmt.Errorf("want 8 kHz mono 16-bit PCM, got format %d, %d ch, %d Hz, %d bits", format, ch, rate, bits)
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				return nil, errors.New("data before fmt")
			}
			pcm := make([]int16, len(body)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return pcm, nil
		}
		p += 8 + size + size&1
	}
	return nil, errors.New("no data chunk")
}

// run is what the analysers made of one file.
type run struct {
	labels  []bool // settled talk label per frame
	summary LegSummary
	conv    ConversationSummary
	events  []Event
	started []int // frame of each DeadAirStarted
}

// analyse feeds pcm frame by frame to a leg and an IVR-only conversation
// and collects every frame's settled label.
func analyse(pcm []int16, opts ...Option) run {
	l := NewLeg(opts...)
	c := NewConversation(l, nil)
	var r run
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		l.Frame(pcm[i : i+FrameSamples])
		if l.count > SettleLag {
			r.labels = append(r.labels, l.hist>>SettleLag&1 == 1)
		}
		if ev := c.Tick(); ev != NoEvent {
			r.events = append(r.events, ev)
			if ev == DeadAirStarted {
				r.started = append(r.started, i/FrameSamples)
			}
		}
	}
	h := l.resolved()
	for off := l.unsettled() - 1; off >= 0; off-- {
		r.labels = append(r.labels, h>>uint(off)&1 == 1)
	}
	r.summary = l.Summary()
	r.conv = c.Summary()
	return r
}

// truth returns the labelled talk state of each 20 ms frame (at its centre).
func truth(f labelled, frames int) []bool {
	out := make([]bool, frames)
	for i := range out {
		t := (float64(i) + 0.5) * FrameDuration.Seconds()
		for _, s := range f.Speech {
			if t >= s[0] && t < s[1] {
				out[i] = true
				break
			}
		}
	}
	return out
}

func agreement(a, b []bool) float64 {
	n := min(len(a), len(b))
	if n == 0 {
		return 0
	}
	same := 0
	for i := range n {
		if a[i] == b[i] {
			same++
		}
	}
	return float64(same) / float64(n)
}

func labelledSpeech(f labelled) float64 {
	s := 0.0
	for _, iv := range f.Speech {
		s += iv[1] - iv[0]
	}
	return s
}

// espeakSpoken is the number of syllables espeak-ng actually speaks in each
// Mandarin file of the espeak set, counted from its own phoneme transcript
// (espeak-ng -q -v cmn -s SPEED -x TEXT: one tone number per syllable).
// espeak-ng 1.51 has no pronunciation for most of these characters and
// reads their pinyin with the tone digit as English ("个" ge4 is spoken
// "ge four"), so the audio holds about twice as many syllables as the
// text has characters. The manifest's characters per minute therefore
// cannot be the reference for a syllable counter on these files; these
// counts are.
var espeakSpoken = map[string]int{
	"cmn_90cpm.wav":  50,
	"cmn_120cpm.wav": 49,
	"cmn_160cpm.wav": 45,
	"cmn_200cpm.wav": 47,
}

// reference returns the syllables per minute of speech a file really
// holds, and what the reference is.
func reference(f labelled) (float64, string) {
	if n, ok := espeakSpoken[f.Name]; ok {
		return float64(n) / labelledSpeech(f) * 60, "espeak-spoken"
	}
	if f.Lang == "en" {
		return f.Rate, "approx"
	}
	return f.Rate, "label"
}

func relErr(got, want float64) float64 { return (got - want) / want }

func isHuman(f labelled) bool { return len(f.Name) > 6 && f.Name[:6] == "human/" }

// TestCorpusReport prints the accuracy table published in bench/README.md.
func TestCorpusReport(t *testing.T) {
	files := loadCorpus(t)
	t.Log("| file | variant | labelled /min | reference /min | measured /min | error vs reference | talk s (labelled) | speech-frame agreement | longest silence s (labelled) | dead-air events |")
	t.Log("|---|---|---|---|---|---|---|---|---|---|")
	var sum float64
	var n int
	for _, f := range files {
		pcm, err := readWAV(f.Path)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		r := analyse(pcm)
		ref, what := reference(f)
		e := relErr(r.summary.Pace, ref)
		if isHuman(f) {
			sum += math.Abs(e)
			n++
		}
		t.Logf("| %s | %s | %.1f | %.1f (%s) | %.1f | %+.1f %% | %.2f (%.2f) | %.1f %% | %.2f (%.2f) | %d |",
			f.Name, f.Variant, f.Rate, ref, what, r.summary.Pace, 100*e,
			r.summary.Talk.Seconds(), labelledSpeech(f), 100*agreement(r.labels, truth(f, len(r.labels))),
			r.conv.LongestDeadAir.Seconds(), f.Longest, r.conv.DeadAirEvents)
	}
	t.Logf("human Mandarin: mean absolute pace error %.1f %% over %d files", 100*sum/float64(n), n)
}

func TestVoiceActivityAgreesWithLabelledIntervals(t *testing.T) {
	for _, f := range loadCorpus(t) {
		t.Run(f.Name, func(t *testing.T) {
			pcm, err := readWAV(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			r := analyse(pcm)
			agr := agreement(r.labels, truth(f, len(r.labels)))
			// ≥ 90 % on clean speech (the task's bar); noise and µ-law
			// are reported and held to 85 %.
			want := 0.90
			if f.Variant != "clean" {
				want = 0.85
			}
			if agr < want {
				t.Errorf("frame agreement %.1f %%, want ≥ %.0f %%", 100*agr, 100*want)
			}
			// Issue 5: talk time within 5 %.
			if e := relErr(r.summary.Talk.Seconds(), labelledSpeech(f)); math.Abs(e) > 0.05 {
				t.Errorf("talk %v vs labelled %.2fs: %+.1f %%, want within 5 %%", r.summary.Talk, labelledSpeech(f), 100*e)
			}
			t.Logf("agreement %.1f %%, talk %.2f s (labelled %.2f s)", 100*agr, r.summary.Talk.Seconds(), labelledSpeech(f))
		})
	}
}

func TestPaceOnHumanMandarinWithinTenPercentOnAverage(t *testing.T) {
	var sum float64
	var n int
	for _, f := range loadCorpus(t) {
		if !isHuman(f) {
			continue
		}
		pcm, err := readWAV(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		r := analyse(pcm)
		e := relErr(r.summary.Pace, f.Rate)
		t.Logf("%s: %.1f syllables/min, labelled %.1f (%+.1f %%)", f.Name, r.summary.Pace, f.Rate, 100*e)
		if math.Abs(e) > 0.15 {
			t.Errorf("%s: pace %.1f vs %.1f (%+.1f %%), want within 15 %%", f.Name, r.summary.Pace, f.Rate, 100*e)
		}
		sum += math.Abs(e)
		n++
	}
	if mae := sum / float64(n); mae > 0.10 {
		t.Errorf("mean absolute pace error %.1f %%, want ≤ 10 %% (issue 5)", 100*mae)
	}
}

func TestPaceOnEspeakSpeechMatchesTheSyllablesSpoken(t *testing.T) {
	var sum float64
	var n int
	for _, f := range loadCorpus(t) {
		if isHuman(f) {
			continue
		}
		pcm, err := readWAV(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		r := analyse(pcm)
		ref, what := reference(f)
		e := relErr(r.summary.Pace, ref)
		t.Logf("%s: %.1f syllables/min, reference %.1f (%s) %+.1f %%; labelled %.1f", f.Name, r.summary.Pace, ref, what, 100*e, f.Rate)
		if math.Abs(e) > 0.15 {
			t.Errorf("%s: pace %.1f vs %.1f (%s), want within 15 %%", f.Name, r.summary.Pace, ref, what)
		}
		if f.Lang == "en" {
			if e := relErr(r.summary.WordsPerMinute(), f.WPM); math.Abs(e) > 0.15 {
				t.Errorf("%s: %.1f words/min vs %.1f labelled, want within 15 %%", f.Name, r.summary.WordsPerMinute(), f.WPM)
			}
		}
		sum += math.Abs(e)
		n++
	}
	if mae := sum / float64(n); mae > 0.10 {
		t.Errorf("mean absolute error %.1f %%, want ≤ 10 %%", 100*mae)
	}
}

func TestDeadAirOnHumanFilesIsFoundWithItsLength(t *testing.T) {
	for _, f := range loadCorpus(t) {
		t.Run(f.Name, func(t *testing.T) {
			pcm, err := readWAV(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			r := analyse(pcm)
			if !f.DeadAir {
				// No dead-air event on continuous speech.
				if r.conv.DeadAirEvents != 0 || len(r.events) != 0 {
					t.Fatalf("dead-air events %v in a file without dead air", r.events)
				}
				return
			}
			if r.conv.DeadAirEvents != 1 || len(r.started) != 1 {
				t.Fatalf("dead-air events %d (live %v), want 1", r.conv.DeadAirEvents, r.events)
			}
			if d := r.conv.LongestDeadAir.Seconds() - f.Longest; math.Abs(d) > 0.3 {
				t.Errorf("longest dead air %.2fs, labelled %.2fs: off by %+.2fs, want within 0.3s", r.conv.LongestDeadAir.Seconds(), f.Longest, d)
			}
			// The alert fires 8 s into the labelled silence.
			var gap [2]float64
			for _, s := range f.Silence {
				if s[1]-s[0] == f.Longest {
					gap = s
				}
			}
			alert := float64(r.started[0]+1) * FrameDuration.Seconds()
			if d := alert - (gap[0] + 8); math.Abs(d) > 0.3 {
				t.Errorf("alert at %.2fs, want 8 s after the silence began at %.2fs (off by %+.2fs)", alert, gap[0], d)
			}
			t.Logf("dead air %.2fs (labelled %.2fs), alert at %.2fs (silence from %.2fs)", r.conv.LongestDeadAir.Seconds(), f.Longest, alert, gap[0])
		})
	}
}
