package media

import (
	"testing"
	"unsafe"
)

// relayedAndAnalysedRing is a leg's ring with both readers: the relay of
// a bridge direction and the analyser of generation 1.
func relayedAndAnalysedRing() (*rxRing, *bridgeDir) {
	d := testDir()
	d.ring.attachAnalysis(1, true)
	return d.ring, d
}

func TestEveryReceivedFrameReachesBothTheRelayAndTheAnalyser(t *testing.T) {
	r, d := relayedAndAnalysedRing()
	dst := make([]byte, FrameSize)
	var pcm [FrameSize]int16
	var relayed, analysed []int
	for i := range 40 {
		r.push(numbered(i), uint32(i*FrameSize), PayloadPCMU, 1)
		// The two readers take their frames at their own pace: the relay
		// every slot, the analyser in bursts of three every third slot.
		if d.pop(dst, PayloadPCMU) {
			relayed = append(relayed, frameIndex(dst))
		}
		if i%3 == 2 {
			for range 3 {
				if r.popAnalysis(&pcm) {
					analysed = append(analysed, int(pcm[0]))
				}
			}
		}
	}
	for r.popAnalysis(&pcm) {
		analysed = append(analysed, int(pcm[0]))
	}
	for d.pop(dst, PayloadPCMU) {
		relayed = append(relayed, frameIndex(dst))
	}
	if len(relayed) != 40 || len(analysed) != 40 {
		t.Fatalf("relayed %d and analysed %d of 40 frames", len(relayed), len(analysed))
	}
	for i := range 40 {
		if relayed[i] != i || analysed[i] != int(ulawToLinear[byte(i)]) {
			t.Fatalf("frame %d: relayed %d, analysed %d", i, relayed[i], analysed[i])
		}
	}
	if r.overruns.Load() != 0 || d.br.dropped.Load() != 0 {
		t.Errorf("%d overruns, %d dropped, with both readers keeping up", r.overruns.Load(), d.br.dropped.Load())
	}
}

func TestARelayThatFallsBehindLosesOnlyItsOwnFrames(t *testing.T) {
	r, d := relayedAndAnalysedRing()
	for i := range rxRingSize {
		r.push(numbered(i), uint32(i*FrameSize), PayloadPCMU, 1)
	}
	// The relay keeps at most relayRing frames (its latency bound); the
	// analyser, reading nothing yet, still has all of them.
	if got := d.buffered(); got != relayRing {
		t.Errorf("relay holds %d frames, want %d", got, relayRing)
	}
	if got := d.br.dropped.Load(); got != rxRingSize-relayRing {
		t.Errorf("relay dropped %d frames, want %d", got, rxRingSize-relayRing)
	}
	var pcm [FrameSize]int16
	for i := range rxRingSize {
		if !r.popAnalysis(&pcm) || pcm[0] != ulawToLinear[byte(i)] {
			t.Fatalf("analysis frame %d missing or out of order", i)
		}
	}
	if r.overruns.Load() != 0 {
		t.Errorf("%d analysis overruns", r.overruns.Load())
	}
}

func TestTheRelayStartsWithTheFirstFrameAfterTheBridge(t *testing.T) {
	d := testDir()
	r := d.ring
	r.attachRelay(nil)
	r.push(numbered(1), 0, PayloadPCMU, 0) // received before the bridge
	r.attachRelay(d)
	r.push(numbered(2), FrameSize, PayloadPCMU, 0)
	r.push(numbered(3), 2*FrameSize, PayloadPCMU, 0)
	dst := make([]byte, FrameSize)
	if !d.pop(dst, PayloadPCMU) || frameIndex(dst) != 2 {
		t.Fatalf("first relayed frame %d, want 2", frameIndex(dst))
	}
	r.detachRelay(d)
	r.push(numbered(4), 3*FrameSize, PayloadPCMU, 0)
	if got := d.br.dropped.Load(); got != 0 {
		t.Errorf("a detached relay counted %d drops", got)
	}
}

func TestAFrameBegunBeforeTheAnalyserAttachedIsRelayedButNotAnalysed(t *testing.T) {
	r, d := relayedAndAnalysedRing()
	r.attachAnalysis(1, false)
	half := make([]byte, FrameSize/2)
	for i := range half {
		half[i] = 0x10
	}
	r.push(half, 0, PayloadPCMU, 1)
	r.attachAnalysis(2, true) // a new analyser, half way through a frame
	r.push(half, FrameSize/2, PayloadPCMU, 2)
	r.push(numbered(7), FrameSize, PayloadPCMU, 2)
	var pcm [FrameSize]int16
	if !r.popAnalysis(&pcm) || pcm[0] != ulawToLinear[7] {
		t.Fatalf("the analyser got sample %d first, want frame 7's", pcm[0])
	}
	if r.popAnalysis(&pcm) {
		t.Error("a second frame for the analyser")
	}
	dst := make([]byte, FrameSize)
	if !d.pop(dst, PayloadPCMU) || dst[0] != 0x10 || dst[FrameSize-1] != 0x10 {
		t.Fatalf("the relay did not send the frame that spans the attach whole: %x", dst[:4])
	}
}

// A bridge direction reads the far leg's ring and keeps no frames of its
// own: a bridged call costs the two directions' jitter and event state,
// not a second copy of each leg's received audio.
func TestABridgeDirectionKeepsNoFramesOfItsOwn(t *testing.T) {
	if size := unsafe.Sizeof(bridgeDir{}); unsafe.Sizeof(uintptr(0)) == 8 && size > 352 {
		t.Errorf("bridgeDir is %d bytes, over the 352-byte size class", size)
	}
}
