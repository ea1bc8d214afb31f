//go:build linux

package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func wav(format, channels uint16, rate uint32, bits uint16, data []byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt ")
	fmtChunk := make([]byte, 20)
	binary.LittleEndian.PutUint32(fmtChunk[0:], 16)
	binary.LittleEndian.PutUint16(fmtChunk[4:], format)
	binary.LittleEndian.PutUint16(fmtChunk[6:], channels)
	binary.LittleEndian.PutUint32(fmtChunk[8:], rate)
	binary.LittleEndian.PutUint16(fmtChunk[18:], bits)
	b = append(b, fmtChunk...)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

func TestDecodeWAV(t *testing.T) {
	pcm := make([]byte, 320)
	binary.LittleEndian.PutUint16(pcm, 0x7fff)
	tests := []struct {
		name    string
		in      []byte
		wantLen int
		wantErr error
	}{
		{"16-bit PCM is encoded to one µ-law byte a sample", wav(1, 1, 8000, 16, pcm), 160, nil},
		{"µ-law is taken as is", wav(7, 1, 8000, 8, make([]byte, 100)), 100, nil},
		{"stereo is refused", wav(1, 2, 8000, 16, pcm), 0, errUnsupportedAudio},
		{"16 kHz is refused", wav(1, 1, 16000, 16, pcm), 0, errUnsupportedAudio},
		{"A-law is refused", wav(6, 1, 8000, 8, pcm), 0, errUnsupportedAudio},
		{"not RIFF", []byte("hello world, not a wav"), 0, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeWAV(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.wantLen {
				t.Fatalf("got %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestSyntheticSpeechIsWholeFramesWithSoundAndPauses(t *testing.T) {
	clip := syntheticSpeech(5)
	if len(clip)%frameBytes != 0 || len(clip) < 5*8000 {
		t.Fatalf("%d bytes", len(clip))
	}
	loud, quiet := 0, 0
	for i := 0; i+frameBytes <= len(clip); i += frameBytes {
		silent := true
		for _, b := range clip[i : i+frameBytes] {
			if b != 0xFF && b != 0x7F {
				silent = false
			}
		}
		if silent {
			quiet++
		} else {
			loud++
		}
	}
	if loud == 0 || quiet == 0 {
		t.Fatalf("%d frames with sound, %d silent: want both", loud, quiet)
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(wav(1, 1, 8000, 16, make([]byte, 64)))
	f.Add(wav(7, 1, 8000, 8, make([]byte, 3)))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeWAV(b)
		if err == nil && len(u) > len(b) {
			t.Fatalf("%d µ-law bytes out of a %d-byte file", len(u), len(b))
		}
	})
}

const exposition = `# HELP hotline_rtp_pacer_lateness_seconds How late.
# TYPE hotline_rtp_pacer_lateness_seconds histogram
hotline_rtp_pacer_lateness_seconds_bucket{le="0.005"} 50
hotline_rtp_pacer_lateness_seconds_bucket{le="0.01"} 90
hotline_rtp_pacer_lateness_seconds_bucket{le="0.02"} 100
hotline_rtp_pacer_lateness_seconds_bucket{le="+Inf"} 100
hotline_rtp_pacer_lateness_seconds_sum 0.6
hotline_rtp_pacer_lateness_seconds_count 100
go_gc_duration_seconds{quantile="1"} 0.002
go_gc_duration_seconds_count 7
hotline_calls_total{outcome="completed",queue="a\"b"} 3
hotline_calls_total{outcome="abandoned"} 2 1700000000000
`

func TestMetricsParseAndHistogramQuantiles(t *testing.T) {
	ms, err := parseMetrics(exposition)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := ms.value("hotline_calls_total", nil); !ok || v != 5 {
		t.Fatalf("calls total %v %v, want 5 summed over labels", v, ok)
	}
	if v, _ := ms.value("hotline_calls_total", map[string]string{"queue": `a"b`}); v != 3 {
		t.Fatalf("escaped label value: %v", v)
	}
	if v, _ := ms.value("go_gc_duration_seconds", map[string]string{"quantile": "1"}); v != 0.002 {
		t.Fatalf("gc max %v", v)
	}
	h := ms.histogram("hotline_rtp_pacer_lateness_seconds")
	if len(h) != 4 || !math.IsInf(h[3].LE, 1) {
		t.Fatalf("buckets %v", h)
	}
	// 50 of 100 at ≤ 5 ms: the median is the top of the first bucket.
	if q := histogramQuantile(0.5, h); math.Abs(q-0.005) > 1e-9 {
		t.Fatalf("p50 %v", q)
	}
	// p99 is 9 of the last 10 observations into the (10, 20] ms bucket.
	if q := histogramQuantile(0.99, h); math.Abs(q-0.019) > 1e-9 {
		t.Fatalf("p99 %v", q)
	}
	if m := histogramMax(h); m != 0.02 {
		t.Fatalf("max bound %v", m)
	}
}

func TestHistogramDeltaIsTheWindowOnly(t *testing.T) {
	before := []bucket{{0.01, 100}, {0.02, 100}, {math.Inf(1), 100}}
	after := []bucket{{0.01, 100}, {0.02, 150}, {math.Inf(1), 150}}
	d := histogramDelta(before, after)
	if d[0].Count != 0 || d[1].Count != 50 || d[2].Count != 50 {
		t.Fatalf("delta %v", d)
	}
	if q := histogramQuantile(0.5, d); q <= 0.01 || q > 0.02 {
		t.Fatalf("p50 of the window %v, want inside (10, 20] ms", q)
	}
	if !math.IsNaN(histogramQuantile(0.5, histogramDelta(after, after))) {
		t.Fatal("an empty window must have no quantile")
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add(exposition)
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := parseMetrics(s)
		if err != nil {
			return
		}
		h := ms.histogram("hotline_rtp_pacer_lateness_seconds")
		_ = histogramQuantile(0.99, h)
		_ = histogramMax(h)
	})
}

func TestExtraYAMLMergesOverTheGeneratedConfig(t *testing.T) {
	base := generatedConfig(hotlineConfig{SIPPort: 5060, HTTPPort: 9060, RTPMin: 10000, RTPMax: 20000, DBPath: "/tmp/x.db",
		InactivityTimeout: time.Minute, ReassuranceInterval: 15 * time.Second})
	extra, err := parseYAMLSections("# capacity keys\nrtp:\n  transport: shared\n  port_max: 30000\nlimits:\n  max_calls: 4000\n  retry_after: 5s\nlanguage: en\n")
	if err != nil {
		t.Fatal(err)
	}
	out := renderYAML(mergeYAML(base, extra))
	for _, want := range []string{"  transport: shared\n", "  port_max: 30000\n", "  port_min: 10000\n", "limits:\n  max_calls: 4000\n  retry_after: 5s\n", "language: en\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("merged config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "port_max: 20000") || strings.Count(out, "\nrtp:") != 1 {
		t.Errorf("the extra rtp keys must replace, not repeat:\n%s", out)
	}
}

func TestExtraYAMLRejectsIndentationBeforeAnyKey(t *testing.T) {
	if _, err := parseYAMLSections("  port: 1\n"); !errors.Is(err, errMalformed) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseStatCPUCountsFieldsAfterTheCommandName(t *testing.T) {
	// The command name holds a space and a parenthesis.
	line := "4242 (hot line) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100 1000 200\n"
	got, err := parseStatCPU(line)
	if err != nil || got != 3*time.Second {
		t.Fatalf("got %v, %v; want 3 s (250+50 ticks)", got, err)
	}
	if _, err := parseStatCPU("garbage"); !errors.Is(err, errMalformed) {
		t.Fatalf("err = %v", err)
	}
}

func TestSteadyWindowIsThePlateauAfterSettling(t *testing.T) {
	t0 := time.Unix(0, 0)
	var rs []reading
	for i, a := range []int64{0, 100, 200, 300, 300, 300, 299, 300, 300, 300, 150, 0} {
		rs = append(rs, reading{At: t0.Add(time.Duration(i) * time.Second), Active: a})
	}
	first, last, ok := steadyWindow(rs)
	// Peak 300 first at index 3; 2 s of settling puts the start at 5; the
	// last reading at ≥ 297 is index 9.
	if !ok || first != 5 || last != 9 {
		t.Fatalf("window %d..%d (%v), want 5..9", first, last, ok)
	}
	if _, _, ok := steadyWindow([]reading{{Active: 0}}); ok {
		t.Fatal("no calls, no window")
	}
}

func TestQuantilesOfDurations(t *testing.T) {
	var ms []float64
	for i := 1; i <= 100; i++ {
		ms = append(ms, float64(i))
	}
	q := quantilesOf(ms)
	if q.P50 != 50 || q.P99 != 99 || q.Max != 100 || q.N != 100 {
		t.Fatalf("%+v", q)
	}
	if quantilesOf(nil).String() != "—" {
		t.Fatal("no samples should print as a dash")
	}
}

func TestMachineBusyAddsEveryBusyColumn(t *testing.T) {
	got, err := parseMachineBusy("cpu  100 10 50 1000 5 1 2 3 0 0")
	// user 100 + nice 10 + system 50 + irq 1 + softirq 2 + steal 3 ticks.
	if err != nil || got != 1660*time.Millisecond {
		t.Fatalf("got %v, %v; want 1.66 s", got, err)
	}
	if _, err := parseMachineBusy("intr 1 2 3"); !errors.Is(err, errMalformed) {
		t.Fatalf("err = %v", err)
	}
}

// lateMetrics is a scrape whose lateness histogram has counted fast frames
// within 5 ms and slow ones between 20 and 50 ms so far.
func lateMetrics(t *testing.T, fast, slow int) *metricSet {
	t.Helper()
	total := fast + slow
	text := fmt.Sprintf(`hotline_rtp_pacer_lateness_seconds_bucket{le="0.005"} %d
hotline_rtp_pacer_lateness_seconds_bucket{le="0.02"} %d
hotline_rtp_pacer_lateness_seconds_bucket{le="0.05"} %d
hotline_rtp_pacer_lateness_seconds_bucket{le="+Inf"} %d
hotline_rtp_pacer_lateness_seconds_sum 1
hotline_rtp_pacer_lateness_seconds_count %d
`, fast, fast, total, total, total)
	m, err := parseMetrics(text)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The report tells a tail spread over the window from a few bad seconds:
// each second's own p99, and how many of the window's seconds kept it
// within the bar.
func TestEachSecondOfTheWindowIsJudgedByItsOwnP99(t *testing.T) {
	t0 := time.Unix(0, 0)
	var rs []reading
	fast, slow := 0, 0
	for i, a := range []int64{0, 100, 100, 100, 100, 100, 100, 100, 100, 0} {
		fast += 1000
		if i == 6 {
			slow += 100 // a tenth of this second's frames 20–50 ms late
		}
		busy := time.Duration(i) * 1500 * time.Millisecond // 1.5 CPUs busy
		gen := time.Duration(i) * 500 * time.Millisecond   // half of them the generator's
		probe := 500.0
		if i == 5 {
			probe = 650 // the machine 30 % slower for a second
		}
		rs = append(rs, reading{At: t0.Add(time.Duration(i) * time.Second), Active: a, Machine: busy, Gen: gen, ProbeUS: probe, Metrics: lateMetrics(t, fast, slow)})
	}
	r := &report{Mode: "ivr"}
	measure(r, rs, t0)
	// Window: readings 3..8, so the seconds ending at 4..8 are judged.
	if r.WindowWholeSeconds != 5 || r.SecondsWithinBar != 4 {
		t.Errorf("%d of %d seconds within the bar, want 4 of 5", r.SecondsWithinBar, r.WindowWholeSeconds)
	}
	if r.WorstSecondAt != 6 || r.WorstSecondP99MS <= 20 || r.WorstSecondP99MS > 50 {
		t.Errorf("worst second %.1f ms at t=%.0f, want 20–50 ms at t=6", r.WorstSecondP99MS, r.WorstSecondAt)
	}
	if p := r.Timeline[5].LateP99MS; p > 5 {
		t.Errorf("second 5's p99 %.1f ms, want within 5 ms", p)
	}
	if !math.IsNaN(r.Timeline[0].LateP99MS) {
		t.Errorf("the first reading has no second before it, got %.1f ms", r.Timeline[0].LateP99MS)
	}
	if c, g := r.Timeline[5].MachineCores, r.Timeline[5].GeneratorCores; math.Abs(c-1.5) > 1e-9 || math.Abs(g-0.5) > 1e-9 {
		t.Errorf("second 5 had the machine %.2f CPUs busy, the generator %.2f; want 1.5 and 0.5", c, g)
	}
	if r.ProbeFastestUS != 500 || r.ProbeMedianUS != 500 || r.ProbeSlowestUS != 650 {
		t.Errorf("speed probe %v / %v / %v µs fastest / median / slowest, want 500 / 500 / 650", r.ProbeFastestUS, r.ProbeMedianUS, r.ProbeSlowestUS)
	}
}

// A figure that could not be measured goes out as null, and every other
// field keeps the name json.Marshal gives it: readers of -json (the smoke
// test among them) find the calls under the same keys either way.
func TestJSONWithUnmeasuredFiguresKeepsTheFieldNames(t *testing.T) {
	r := &report{
		Calls:      1,
		PacerP99MS: math.NaN(),
		Timeline:   []timelinePoint{{T: 0, LateP99MS: math.NaN()}},
		PerCall:    []callResult{{CallID: "c1", Outcome: "completed", RTPReceived: 42}},
	}
	path := t.TempDir() + "/r.json"
	if err := r.writeJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Calls      int
		PacerP99MS *float64
		Timeline   []map[string]any
		PerCall    []map[string]any
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Calls != 1 || got.PacerP99MS != nil {
		t.Errorf("Calls %d, PacerP99MS %v; want 1 and null", got.Calls, got.PacerP99MS)
	}
	if len(got.PerCall) != 1 || got.PerCall[0]["call_id"] != "c1" || got.PerCall[0]["rtp_received"] != 42.0 {
		t.Errorf("per call: %v", got.PerCall)
	}
	if _, ok := got.PerCall[0]["reason"]; ok {
		t.Errorf("an empty omitempty field was written: %v", got.PerCall[0])
	}
	if len(got.Timeline) != 1 || got.Timeline[0]["late_p99_ms"] != nil {
		t.Errorf("timeline: %v", got.Timeline)
	}
}

// The speed probe times real work on this machine's CPU.
func TestSpeedProbeTimesItsWork(t *testing.T) {
	p := startSpeedProbe()
	time.Sleep(3 * probeEvery)
	p.close()
	if us := p.take(); !(us > 0 && us < 1e6) {
		t.Errorf("the probe's median: %v µs, want some CPU and less than a second", us)
	}
}

func TestSetupGarbagePerCallPlaced(t *testing.T) {
	before, err := parseMetrics("go_memstats_alloc_bytes_total 1e+06\ngo_gc_duration_seconds_count 3\n")
	if err != nil {
		t.Fatal(err)
	}
	start, err := parseMetrics("go_memstats_alloc_bytes_total 1.1e+07\ngo_gc_duration_seconds_count 8\ngo_gc_gogc_percent 25\n")
	if err != nil {
		t.Fatal(err)
	}
	// 10,000,000 bytes over 200 calls: 50,000 bytes, 48.83 KiB a call.
	kb, cycles, gogc := setupGarbage(before, start, 200)
	if math.Abs(kb-48.828125) > 1e-9 || cycles != 5 || gogc != 25 {
		t.Fatalf("setupGarbage = %v KiB, %v cycles, GOGC %v; want 48.83, 5, 25", kb, cycles, gogc)
	}
	// An older hotline without the GC target, or a run that placed no call.
	if _, _, gogc := setupGarbage(before, before, 200); !math.IsNaN(gogc) {
		t.Fatalf("GOGC %v without go_gc_gogc_percent, want NaN", gogc)
	}
	if kb, _, _ := setupGarbage(before, start, 0); !math.IsNaN(kb) {
		t.Fatalf("%v KiB per call with no call placed, want NaN", kb)
	}
	if kb, cycles, _ := setupGarbage(nil, start, 200); !math.IsNaN(kb) || !math.IsNaN(cycles) {
		t.Fatal("figures without a reading before the first call")
	}
}

// loadgen scrapes hotline every second; a gzip exposition would charge
// hotline a compressor per scrape, so it must not ask for one.
func TestScrapeAsksForTheExpositionUncompressed(t *testing.T) {
	var encodings []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings = append(encodings, r.Header.Get("Accept-Encoding"))
		fmt.Fprint(w, exposition)
	}))
	defer srv.Close()
	for range 2 {
		ms, err := scrape(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := ms.value("hotline_calls_total", nil); !ok || v != 5 {
			t.Fatalf("calls total %v %v, want 5", v, ok)
		}
	}
	for _, e := range encodings {
		if strings.Contains(e, "gzip") {
			t.Fatalf("Accept-Encoding %q: loadgen asked hotline to compress", e)
		}
	}
}
