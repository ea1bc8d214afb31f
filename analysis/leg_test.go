package analysis

import (
	"errors"
	"math"
	"testing"
	"time"
	"unsafe"
)

const tolerance = FrameDuration // one frame

func near(a, b, tol time.Duration) bool {
	d := a - b
	return d <= tol && d >= -tol
}

func TestDigitalSilenceIsNeverTalk(t *testing.T) {
	l := NewLeg()
	feed(l, silence(seconds(10)))
	s := l.Summary()
	if l.Talking() || s.Talk != 0 || s.Segments != 0 || s.Syllables != 0 {
		t.Fatalf("silence gave talking=%v summary %+v", l.Talking(), s)
	}
	if s.Silence != 10*time.Second {
		t.Fatalf("silence = %v, want 10s", s.Silence)
	}
}

func TestLineNoiseIsNotTalk(t *testing.T) {
	// White noise up to 15 dB above a -20 dBFS talker's noise: a terrible
	// line, but still no talk (R9 dead air must not be hidden by hiss).
	for _, level := range []float64{-70, -60, -50, -40, -35} {
		t.Run(dB(level), func(t *testing.T) {
			l := NewLeg()
			for i := range 20 {
				feed(l, whiteNoise(seconds(1), level, uint64(i)))
				if l.Talking() {
					t.Fatalf("talking after %d s of white noise at %v dBFS (floor %.1f, level %.1f)", i+1, level, l.NoiseFloor(), l.Level())
				}
			}
			if s := l.Summary(); s.Talk != 0 || s.Syllables != 0 {
				t.Fatalf("noise at %v dBFS gave %+v", level, s)
			}
		})
	}
}

func TestNoisierLineIsAdoptedWithinThreeSeconds(t *testing.T) {
	// The floor follows a line that gets 25 dB noisier; until then the
	// jump looks like talk, which is the price of not climbing onto speech.
	l := NewLeg()
	feed(l, whiteNoise(seconds(5), -65, 1))
	feed(l, whiteNoise(seconds(4), -40, 2))
	if l.Talking() {
		t.Fatalf("still talking 4 s after the noise rose: floor %.1f dBFS", l.NoiseFloor())
	}
	if s := l.Summary(); s.Talk > 3500*time.Millisecond {
		t.Fatalf("noise step taken for %v of talk, want at most ~3 s", s.Talk)
	}
}

func TestToneBurstTimingFollowsOnsetAndHangover(t *testing.T) {
	cases := []struct {
		name      string
		f, level  float64
		burst     float64 // seconds
		onset     time.Duration
		hangover  time.Duration
		wantOnset int // frames after the burst starts when Talking turns on
	}{
		{"1kHz -20dBFS 1s defaults", 1000, -20, 1, 60 * time.Millisecond, 300 * time.Millisecond, 3},
		{"440Hz -35dBFS 0.5s defaults", 440, -35, 0.5, 60 * time.Millisecond, 300 * time.Millisecond, 3},
		{"2kHz -10dBFS 2s slow onset long hangover", 2000, -10, 2, 100 * time.Millisecond, 800 * time.Millisecond, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewLeg(WithOnset(c.onset), WithHangover(c.hangover))
			feed(l, silence(seconds(1)))
			burst := tone(seconds(c.burst), c.f, c.level)
			on, off := -1, -1
			for i := 0; i+FrameSamples <= len(burst); i += FrameSamples {
				l.Frame(burst[i : i+FrameSamples])
				if on < 0 && l.Talking() {
					on = i/FrameSamples + 1
				}
			}
			quiet := silence(seconds(2))
			for i := 0; i+FrameSamples <= len(quiet); i += FrameSamples {
				l.Frame(quiet[i : i+FrameSamples])
				if off < 0 && !l.Talking() {
					off = i/FrameSamples + 1
				}
			}
			if on != c.wantOnset {
				t.Errorf("talking after %d frames of tone, want %d (onset %v)", on, c.wantOnset, c.onset)
			}
			// The band-pass filter rings into the first frame after an
			// abrupt stop, so that frame may still be active.
			if want := frames(c.hangover); off != want && off != want+1 {
				t.Errorf("talk ended %d frames after the tone, want %d or %d (hangover %v)", off, want, want+1, c.hangover)
			}
			s := l.Summary()
			burstDur := time.Duration(c.burst * float64(time.Second))
			if !near(s.Talk, burstDur, tolerance) || s.Segments != 1 {
				t.Errorf("talk %v in %d segments, want %v in 1: onset and hangover must not count", s.Talk, s.Segments, burstDur)
			}
			if !near(s.Talk+s.Silence, time.Duration(c.burst*float64(time.Second))+3*time.Second, 0) {
				t.Errorf("talk+silence = %v, want the whole input", s.Talk+s.Silence)
			}
		})
	}
}

func TestBlipShorterThanOnsetIsNotTalk(t *testing.T) {
	l := NewLeg()
	feed(l, silence(seconds(1)))
	feed(l, tone(seconds(0.02), 1000, -10)) // a 20 ms click (and the filter's ringing)
	feed(l, silence(seconds(1)))
	if s := l.Summary(); s.Talk != 0 || s.Segments != 0 {
		t.Fatalf("a 20 ms click gave %+v", s)
	}
}

func TestPauseShorterThanHangoverIsPartOfTheTalk(t *testing.T) {
	l := NewLeg()
	feed(l, concat(silence(seconds(1)), tone(seconds(0.5), 800, -20), silence(seconds(0.2)),
		tone(seconds(0.5), 800, -20), silence(seconds(0.5)), tone(seconds(0.5), 800, -20), silence(seconds(1))))
	s := l.Summary()
	if s.Segments != 2 {
		t.Fatalf("segments = %d, want 2 (a 200 ms pause is bridged, a 500 ms one is not)", s.Segments)
	}
	if !near(s.Talk, 1700*time.Millisecond, 2*tolerance) { // ringing after each abrupt stop
		t.Fatalf("talk = %v, want 1.7s (two bursts and the bridged pause, then one burst)", s.Talk)
	}
}

func TestPaceOfSyntheticSyllablesWithinTenPercent(t *testing.T) {
	for _, rate := range []float64{90, 120, 160, 200, 240} {
		for _, snr := range []float64{math.Inf(1), 20} {
			name := dB(rate) + "cpm"
			if !math.IsInf(snr, 1) {
				name += " white noise " + dB(snr)
			}
			t.Run(name, func(t *testing.T) {
				pcm := concat(silence(seconds(1)), syllables(seconds(30), rate, -6), silence(seconds(1)))
				if !math.IsInf(snr, 1) {
					// The voiced signal's RMS is about 12 dB below its peak.
					mix(pcm, whiteNoise(len(pcm), -6-12-snr, 7))
				}
				l := NewLeg()
				feed(l, pcm)
				s := l.Summary()
				if err := (s.Pace - rate) / rate; math.Abs(err) > 0.10 {
					t.Fatalf("pace %.1f, want %.0f ±10%% (%d syllables in %v)", s.Pace, rate, s.Syllables, s.Talk)
				}
			})
		}
	}
}

func TestUnvoicedBurstsAreNotSyllables(t *testing.T) {
	// Noise bursts with a syllable-like rhythm: talk by level, but no
	// nuclei, because nothing is periodic at a pitch lag.
	var pcm []int16
	for i := range 20 {
		pcm = concat(pcm, whiteNoise(seconds(0.15), -20, uint64(i)), silence(seconds(0.1)))
	}
	l := NewLeg()
	feed(l, pcm)
	s := l.Summary()
	if s.Talk < 3*time.Second {
		t.Fatalf("noise bursts gave only %v of talk; the test needs talk", s.Talk)
	}
	if s.Syllables > 2 {
		t.Fatalf("unvoiced bursts counted as %d syllables", s.Syllables)
	}
}

func TestMissingFramesAreSilenceAndEndTalk(t *testing.T) {
	l := NewLeg()
	feed(l, tone(seconds(1), 1000, -20))
	if !l.Talking() {
		t.Fatal("not talking during a tone")
	}
	l.Silence(10)
	if !l.Talking() {
		t.Fatal("200 ms of missing frames ended talk before the hangover")
	}
	l.Silence(1_000_000) // a gap of 5.5 hours costs bookkeeping, not time
	s := l.Summary()
	if l.Talking() {
		t.Fatal("still talking after a long gap")
	}
	if !near(s.Talk, time.Second, tolerance) {
		t.Fatalf("talk = %v, want 1s", s.Talk)
	}
	if want := 1_000_010 * FrameDuration; s.Missing != want || s.Silence != want {
		t.Fatalf("missing %v, silence %v, want %v each", s.Missing, s.Silence, want)
	}
	if l.Frames() != 50+1_000_010 {
		t.Fatalf("frames = %d", l.Frames())
	}
	if got := l.Quiet(); got != 1_000_010*FrameDuration {
		t.Fatalf("quiet for %v, want the whole gap", got)
	}
}

func TestNonPositiveSilenceIsIgnored(t *testing.T) {
	l := NewLeg()
	l.Silence(0)
	l.Silence(-5)
	if l.Frames() != 0 {
		t.Fatalf("frames = %d after Silence(0) and Silence(-5)", l.Frames())
	}
}

func TestOddFrameSizesCountAsOneFrame(t *testing.T) {
	l := NewLeg()
	for _, n := range []int{0, 1, 2, 79, 80, 159, 161, 320} {
		l.Frame(tone(n, 1000, -20))
	}
	if l.Frames() != 8 {
		t.Fatalf("frames = %d, want 8", l.Frames())
	}
	if s := l.Summary(); s.Talk+s.Silence != 8*FrameDuration {
		t.Fatalf("talk+silence = %v", s.Talk+s.Silence)
	}
}

func TestSummaryDoesNotDisturbTheAnalysis(t *testing.T) {
	pcm := concat(silence(seconds(0.5)), syllables(seconds(5), 150, -10), silence(seconds(1.3)), syllables(seconds(4), 150, -10))
	a, b := NewLeg(), NewLeg()
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		a.Frame(pcm[i : i+FrameSamples])
		b.Frame(pcm[i : i+FrameSamples])
		_ = b.Summary()
	}
	if sa, sb := a.Summary(), b.Summary(); sa != sb {
		t.Fatalf("summaries differ: %+v vs %+v", sa, sb)
	}
}

func TestPaceNeedsEnoughTalk(t *testing.T) {
	l := NewLeg()
	feed(l, concat(syllables(seconds(2), 150, -10), silence(seconds(1))))
	if s := l.Summary(); s.Pace != 0 || s.Syllables == 0 {
		t.Fatalf("2 s of talk: %+v, want syllables counted but pace 0", s)
	}
	l = NewLeg(WithMinPaceSpeech(time.Second))
	feed(l, concat(syllables(seconds(2), 150, -10), silence(seconds(1))))
	if s := l.Summary(); s.Pace == 0 {
		t.Fatalf("2 s of talk with a 1 s minimum: pace 0")
	}
}

func TestWordsPerMinuteUsesTheEnglishFactor(t *testing.T) {
	if got := (LegSummary{Pace: 210}).WordsPerMinute(); got != 150 {
		t.Fatalf("210 syllables/min = %v words/min, want 150", got)
	}
}

func TestInvalidOptionsAreRefusedOrIgnored(t *testing.T) {
	bad := []Option{
		WithOnset(0), WithOnset(time.Second), WithHangover(0), WithHangover(2 * time.Second),
		WithMargin(1), WithMargin(math.NaN()), WithMinLevel(0), WithNucleusDip(0.5),
		WithNucleusGap(10 * time.Millisecond), WithVoicing(1.5), WithMinPaceSpeech(-time.Second),
	}
	for i, o := range bad {
		if _, err := NewLegChecked(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("option %d: err = %v, want ErrInvalidOption", i, err)
		}
		// NewLeg keeps the defaults instead.
		l := NewLeg(o)
		if l.cfg != defaultLegConfig() {
			t.Errorf("option %d changed the config: %+v", i, l.cfg)
		}
	}
	if _, err := NewLegChecked(WithOnset(40*time.Millisecond), nil, WithHangover(time.Second)); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
}

func TestAnalysisAllocatesNothing(t *testing.T) {
	caller, agent := NewLeg(), NewLeg()
	c := NewConversation(caller, agent)
	talk := syllables(seconds(2), 180, -6)
	noise := whiteNoise(seconds(2), -50, 3)
	k := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i := (k % 100) * FrameSamples
		k++
		caller.Frame(talk[i : i+FrameSamples])
		agent.Frame(noise[i : i+FrameSamples])
		if k%7 == 0 {
			agent.Silence(1)
		}
		c.Tick()
		_ = c.Summary()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame, want 0", allocs)
	}
}

func dB(v float64) string {
	if v == math.Trunc(v) {
		return itoa(int(v))
	}
	return itoa(int(math.Round(v)))
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// A hotline analyses every leg of thousands of calls at once, so the
// analyser's size is memory per leg: it fits Go's 896-byte size class,
// and one byte more moves it to the 1,024-byte one.
func TestALegAnalyserFitsIn896Bytes(t *testing.T) {
	if size := unsafe.Sizeof(LegAnalyser{}); unsafe.Sizeof(uintptr(0)) == 8 && size > 896 {
		t.Errorf("LegAnalyser is %d bytes, over the 896-byte size class", size)
	}
}
