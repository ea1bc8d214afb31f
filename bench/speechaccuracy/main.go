// Command speechaccuracy runs hotline's speech analysers over labelled WAV
// files and prints, per file and on average, the error of the speaking
// pace, of the talk time and of the dead-air onset (rule R9).
//
//	go run ./bench/speechaccuracy -dir ../shared/speech
//
// It reads manifest.json in -dir and in -dir/human (8 kHz mono 16-bit WAV
// with speech intervals, syllable rates and dead-air gaps).
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/hotline-dev/hotline/analysis"
)

type file struct {
	Name        string
	Path        string
	Speech      float64      // labelled seconds of speech
	Rate        float64      // labelled syllables per minute
	RateNote    string       // why a label is not a syllable count
	SilenceGaps [][2]float64 // labelled silences
}

func main() {
	dir := flag.String("dir", "../shared/speech", "directory with manifest.json and human/manifest.json")
	threshold := flag.Duration("dead-air", 8*time.Second, "dead-air alert threshold")
	flag.Parse()
	files, err := load(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "speechaccuracy:", err)
		os.Exit(1)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "file\tlabel spm\tmeasured spm\tpace err %\tlabel talk s\tmeasured talk s\ttalk err %\tdead-air onset err ms\t")
	var paceErrs, talkErrs, onsetErrs []float64
	for _, f := range files {
		pcm, err := readWAV(f.Path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "speechaccuracy:", err)
			os.Exit(1)
		}
		leg := analysis.NewLeg()
		conv := analysis.NewConversation(leg, nil, analysis.WithDeadAirThreshold(*threshold))
		var alerts []time.Duration
		n := 0
		for ; (n+1)*analysis.FrameSamples <= len(pcm); n++ {
			leg.Frame(pcm[n*analysis.FrameSamples : (n+1)*analysis.FrameSamples])
			if conv.Tick() == analysis.DeadAirStarted {
				alerts = append(alerts, time.Duration(n+1)*analysis.FrameDuration)
			}
		}
		sum := leg.Summary()
		paceErr := 100 * (sum.Pace - f.Rate) / f.Rate
		talkErr := 100 * (sum.Talk.Seconds() - f.Speech) / f.Speech
		paceCell := fmt.Sprintf("%+.1f", paceErr)
		if f.RateNote != "" {
			paceCell = f.RateNote
		} else {
			paceErrs = append(paceErrs, math.Abs(paceErr))
		}
		talkErrs = append(talkErrs, math.Abs(talkErr))

		onset := "-"
		for _, g := range f.SilenceGaps {
			if g[1]-g[0] < threshold.Seconds() {
				continue
			}
			want := time.Duration((g[0] + threshold.Seconds()) * float64(time.Second))
			if len(alerts) == 0 {
				onset = "missed"
				continue
			}
			best := alerts[0]
			for _, a := range alerts {
				if math.Abs(float64(a-want)) < math.Abs(float64(best-want)) {
					best = a
				}
			}
			e := float64((best - want).Milliseconds())
			onsetErrs = append(onsetErrs, math.Abs(e))
			onset = fmt.Sprintf("%+.0f", e)
		}
		if onset == "-" && len(alerts) > 0 {
			onset = fmt.Sprintf("false alarm ×%d", len(alerts))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%.2f\t%.2f\t%+.1f\t%s\t\n", f.Name, f.Rate, sum.Pace, paceCell,
			f.Speech, sum.Talk.Seconds(), talkErr, onset)
	}
	tw.Flush()
	fmt.Printf("\nmean absolute error: pace %.1f %% (%d files with syllable labels), talk time %.1f %% (%d files), dead-air onset %.0f ms (%d gaps)\n",
		mean(paceErrs), len(paceErrs), mean(talkErrs), len(talkErrs), mean(onsetErrs), len(onsetErrs))
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func load(dir string) ([]file, error) {
	var out []file
	var es struct {
		Files []struct {
			File          string       `json:"file"`
			Lang          string       `json:"lang"`
			SpeechS       float64      `json:"speech_s"`
			CharsPerMin   float64      `json:"chars_per_min"`
			SyllablesPerM float64      `json:"syllables_per_min_approx"`
			Silence       [][2]float64 `json:"silence_intervals"`
		} `json:"files"`
	}
	if err := readJSON(filepath.Join(dir, "manifest.json"), &es); err != nil {
		return nil, err
	}
	for _, f := range es.Files {
		x := file{Name: f.File, Path: filepath.Join(dir, f.File), Speech: f.SpeechS, Rate: f.CharsPerMin, SilenceGaps: f.Silence}
		switch f.Lang {
		case "en":
			x.Rate = f.SyllablesPerM
		case "cmn":
			// espeak-ng reads many of these characters as pinyin spelled
			// in English ("ge five"), so it speaks about twice as many
			// syllables as there are characters: the label is not a
			// syllable count and is left out of the pace mean.
			x.RateNote = "label≠syllables"
		}
		out = append(out, x)
	}
	var hu struct {
		Files []struct {
			File    string       `json:"file"`
			SpeechS float64      `json:"speech_s"`
			Rate    float64      `json:"syllables_per_min"`
			Silence [][2]float64 `json:"silence_intervals"`
		} `json:"files"`
	}
	if err := readJSON(filepath.Join(dir, "human", "manifest.json"), &hu); err != nil {
		return nil, err
	}
	for _, f := range hu.Files {
		out = append(out, file{Name: "human/" + f.File, Path: filepath.Join(dir, "human", f.File), Speech: f.SpeechS, Rate: f.Rate, SilenceGaps: f.Silence})
	}
	return out, nil
}

func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readWAV reads 16-bit mono PCM samples from a RIFF/WAVE file.
func readWAV(path string) ([]int16, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) < 12 || string(raw[:4]) != "RIFF" || string(raw[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%s: not a WAV file", path)
	}
	for i := 12; i+8 <= len(raw); {
		id, size := string(raw[i:i+4]), int(binary.LittleEndian.Uint32(raw[i+4:]))
		if id == "data" {
			data := raw[i+8 : min(len(raw), i+8+size)]
			pcm := make([]int16, len(data)/2)
			for k := range pcm {
				pcm[k] = int16(binary.LittleEndian.Uint16(data[2*k:]))
			}
			return pcm, nil
		}
		i += 8 + size + size%2
	}
	return nil, errors.New(path + ": no data chunk")
}
