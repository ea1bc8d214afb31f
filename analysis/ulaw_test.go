package analysis_test

import (
	"math"
	"testing"

	"github.com/hotline-dev/hotline/analysis"
	"github.com/hotline-dev/hotline/media"
)

// ulawRoundTrip passes pcm through G.711 µ-law and back, as a phone line
// does, with the media engine's own codec.
func ulawRoundTrip(pcm []int16) []int16 {
	enc := make([]byte, len(pcm))
	media.EncodePCMU(enc, pcm)
	out := make([]int16, len(pcm))
	media.DecodePCMU(out, enc)
	return out
}

func TestMuLawChangesResultsOnlySlightly(t *testing.T) {
	type input struct {
		name string
		pcm  []int16
	}
	sec, syl, sil, cat := analysis.SecondsForTest, analysis.SyllablesForTest, analysis.SilenceForTest, analysis.ConcatForTest
	inputs := []input{
		{"synthetic 150 cpm", cat(sil(sec(1)), syl(sec(20), 150, -10), sil(sec(2)))},
		{"synthetic 200 cpm quiet", cat(sil(sec(1)), syl(sec(20), 200, -30), sil(sec(2)))},
	}
	for _, name := range []string{"human/h01_r090_clean.wav", "human/h02_r120_clean.wav", "human/h04_r180_clean.wav",
		"human/h07_r150_clean_deadair.wav", "cmn_120cpm.wav", "en_130wpm.wav"} {
		if pcm, ok := analysis.CorpusFileForTest(name); ok {
			inputs = append(inputs, input{name, pcm})
		}
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			coded := ulawRoundTrip(in.pcm)
			changed := 0
			for i := range coded {
				if coded[i] != in.pcm[i] {
					changed++
				}
			}
			if changed == 0 {
				t.Fatal("µ-law round trip changed nothing; the test would prove nothing")
			}
			sa, ca, la := analysis.AnalyseForTest(in.pcm)
			sb, cb, lb := analysis.AnalyseForTest(coded)
			agr := analysis.AgreementForTest(la, lb)
			t.Logf("%d of %d samples changed; linear: %d syllables, %.1f/min, talk %v; µ-law: %d syllables, %.1f/min, talk %v; labels agree %.1f %%",
				changed, len(coded), sa.Syllables, sa.Pace, sa.Talk, sb.Syllables, sb.Pace, sb.Talk, 100*agr)
			if d := math.Abs(float64(sa.Syllables - sb.Syllables)); d > max(2, 0.06*float64(sa.Syllables)) {
				t.Errorf("syllables %d linear vs %d µ-law", sa.Syllables, sb.Syllables)
			}
			if e := math.Abs(sb.Talk.Seconds()/sa.Talk.Seconds() - 1); e > 0.02 {
				t.Errorf("talk %v linear vs %v µ-law (%.1f %%)", sa.Talk, sb.Talk, 100*e)
			}
			if agr < 0.98 {
				t.Errorf("frame labels agree %.1f %%, want ≥ 98 %%", 100*agr)
			}
			if d := ca.LongestDeadAir - cb.LongestDeadAir; d > 2*analysis.FrameDuration || d < -2*analysis.FrameDuration {
				t.Errorf("longest dead air %v linear vs %v µ-law", ca.LongestDeadAir, cb.LongestDeadAir)
			}
		})
	}
}
