package analysis

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// FuzzLegAnalyser feeds arbitrary audio, gaps and hold changes to a bridged
// conversation: nothing may panic, and the books must balance.
func FuzzLegAnalyser(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0}, uint8(3))
	f.Add(make([]byte, 4000), uint8(0))
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80, 0xff, 0x7f, 0x00, 0x80}, uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, gaps uint8) {
		// Ten seconds of audio is plenty; longer inputs only slow the fuzzer.
		data = data[:min(len(data), 2*FrameSamples*500)]
		caller, agent := NewLeg(), NewLeg()
		c := NewConversation(caller, agent, WithDeadAirThreshold(time.Second))
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		slots := 0
		for i := 0; i < len(pcm) || slots < 3; i += FrameSamples {
			frame := pcm[min(i, len(pcm)):min(i+FrameSamples, len(pcm))]
			caller.Frame(frame)
			if gaps != 0 && slots%int(gaps) == 0 {
				agent.Silence(1)
				c.SetHold(!c.hold)
			} else {
				agent.Frame(frame)
			}
			c.Tick()
			slots++
		}
		for _, l := range []*LegAnalyser{caller, agent} {
			s := l.Summary()
			if s.Talk+s.Silence != time.Duration(slots)*FrameDuration {
				t.Fatalf("talk %v + silence %v != %d frames", s.Talk, s.Silence, slots)
			}
			if s.Pace < 0 || math.IsNaN(s.Pace) || math.IsInf(s.Pace, 0) || s.Missing > s.Talk+s.Silence {
				t.Fatalf("bad summary %+v", s)
			}
		}
		cs := c.Summary()
		if cs.Duration != time.Duration(slots)*FrameDuration || cs.Overtalk > cs.CallerTalk || cs.LongestDeadAir > cs.DeadAir ||
			cs.DeadAir+cs.Held > cs.Duration || cs.TalkRatio < 0 || cs.TalkRatio > 1 {
			t.Fatalf("inconsistent conversation summary %+v over %d slots", cs, slots)
		}
	})
}
