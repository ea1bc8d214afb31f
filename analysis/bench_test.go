package analysis

import (
	"testing"
)

// BenchmarkLegFrame is the cost of LegAnalyser.Frame per 20 ms frame, by
// content: the voicing check runs only on frames that may hold a nucleus,
// so talk costs more than silence or line noise.
func BenchmarkLegFrame(b *testing.B) {
	cases := []struct {
		name string
		pcm  []int16
	}{
		{"digital-silence", silence(seconds(10))},
		{"white-noise-40dBFS", whiteNoise(seconds(10), -40, 1)},
		{"voiced-syllables-240cpm", syllables(seconds(10), 240, -6)},
	}
	if f, ok := corpusFile(b, "human/h02_r120_clean.wav"); ok {
		cases = append(cases, struct {
			name string
			pcm  []int16
		}{"human-speech-h02", f})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			l := NewLeg()
			frames := len(c.pcm) / FrameSamples
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				k := i % frames
				l.Frame(c.pcm[k*FrameSamples : (k+1)*FrameSamples])
			}
		})
	}
}

// BenchmarkConversationTick is the cost of one Conversation.Tick on a
// bridged call (both legs' frames are analysed outside the timer).
func BenchmarkConversationTick(b *testing.B) {
	caller, agent := NewLeg(), NewLeg()
	c := NewConversation(caller, agent)
	talk := syllables(seconds(10), 180, -6)
	quiet := silence(seconds(10))
	for i := 0; i+FrameSamples <= len(talk); i += FrameSamples {
		caller.Frame(talk[i : i+FrameSamples])
		agent.Frame(quiet[i : i+FrameSamples])
		c.Tick()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.Tick()
	}
}

// BenchmarkLegSilence is the cost of accounting one missing frame.
func BenchmarkLegSilence(b *testing.B) {
	l := NewLeg()
	b.ReportAllocs()
	for b.Loop() {
		l.Silence(1)
	}
}

// corpusFile reads one labelled file if the set is present.
func corpusFile(_ testing.TB, name string) ([]int16, bool) {
	pcm, err := readWAV(speechDir + "/" + name)
	if err != nil {
		return nil, false
	}
	return pcm, true
}
