package media

import (
	"bytes"
	"testing"
)

// Deterministic tests of one bridge direction's jitter buffer and
// re-framing, driven slot by slot without sockets or clocks.

func testDir() *bridgeDir {
	br := &Bridge{}
	d := newBridgeDir(br, &Session{}, nil, &br.aToB)
	d.ring.attachRelay(d)
	return d
}

// pushAudio is what the far leg's receive path does with a payload.
func (d *bridgeDir) pushAudio(payload []byte, ts uint32, pt uint8) {
	d.ring.push(payload, ts, pt, 0)
}

// buffered is how many frames wait for the relay.
func (d *bridgeDir) buffered() int {
	d.ring.mu.Lock()
	defer d.ring.mu.Unlock()
	return int(d.ring.w - d.ring.relayR)
}

// numbered is frame i of a test stream: its index in the first two bytes,
// never all silence.
func numbered(i int) []byte {
	f := make([]byte, FrameSize)
	for j := range f {
		f[j] = byte(i*7 + j%100)
	}
	f[0], f[1] = byte(i), byte(i>>8)
	return f
}

func frameIndex(f []byte) int { return int(f[0]) | int(f[1])<<8 }

func TestJitterBufferStartsOnceTwoFramesWaitOrOneHasWaitedASlot(t *testing.T) {
	dst := make([]byte, FrameSize)
	t.Run("two frames start at once", func(t *testing.T) {
		d := testDir()
		d.pushAudio(numbered(0), 0, PayloadPCMU)
		d.pushAudio(numbered(1), 160, PayloadPCMU)
		if !d.pop(dst, PayloadPCMU) || frameIndex(dst) != 0 {
			t.Fatal("did not start with two frames buffered")
		}
	})
	t.Run("a lone frame waits one slot, then goes", func(t *testing.T) {
		d := testDir()
		d.pushAudio(numbered(0), 0, PayloadPCMU)
		if d.pop(dst, PayloadPCMU) {
			t.Fatal("a single frame went out at once: no cushion against jitter")
		}
		if !d.pop(dst, PayloadPCMU) || frameIndex(dst) != 0 {
			t.Fatal("a single frame was held back a second slot")
		}
	})
	t.Run("silence before the far leg ever talked is not an underrun", func(t *testing.T) {
		d := testDir()
		for range 10 {
			d.pop(dst, PayloadPCMU)
		}
		if u := d.br.underruns.Load(); u != 0 {
			t.Errorf("%d underruns counted before any audio", u)
		}
	})
}

func TestJitterBufferDropsTheOldestWhenFull(t *testing.T) {
	d := testDir()
	for i := range relayRing + 2 {
		d.pushAudio(numbered(i), uint32(i*FrameSize), PayloadPCMU)
	}
	if got := d.br.dropped.Load(); got != 2 {
		t.Fatalf("dropped %d, want 2", got)
	}
	dst := make([]byte, FrameSize)
	for want := 2; want < relayRing+2; want++ {
		if !d.pop(dst, PayloadPCMU) {
			t.Fatalf("no frame %d", want)
		}
		if got := frameIndex(dst); got != want {
			t.Fatalf("popped frame %d, want %d (oldest first)", got, want)
		}
	}
}

func TestJitterBufferCountsUnderrunsOnlyWhileTheFarLegTalks(t *testing.T) {
	d := testDir()
	dst := make([]byte, FrameSize)
	d.pushAudio(numbered(0), 0, PayloadPCMU)
	d.pushAudio(numbered(1), 160, PayloadPCMU)
	d.pop(dst, PayloadPCMU)
	d.pop(dst, PayloadPCMU)
	// The far leg stops (silence suppression): the first relayIdleAfter
	// empty slots are concealment, the rest is the far leg's silence.
	for range 50 {
		if d.pop(dst, PayloadPCMU) {
			t.Fatal("frame from an empty buffer")
		}
	}
	if got := d.br.underruns.Load(); got != relayIdleAfter {
		t.Errorf("%d underruns, want %d", got, relayIdleAfter)
	}
}

func TestJitterBufferTrimsAStandingBacklog(t *testing.T) {
	// A burst left four frames standing, then the far leg sends exactly
	// one per slot (or its clock runs fast): 80 ms of needless delay.
	d := testDir()
	dst := make([]byte, FrameSize)
	next := 0
	push := func() {
		d.pushAudio(numbered(next), uint32(next*FrameSize), PayloadPCMU)
		next++
	}
	for range 4 {
		push()
	}
	last := -1
	for range 3 * relayTrimWindow {
		push()
		if !d.pop(dst, PayloadPCMU) {
			t.Fatal("underrun with a backlog")
		}
		if got := frameIndex(dst); got <= last {
			t.Fatalf("frame %d after %d", got, last)
		}
		last = frameIndex(dst)
	}
	if d.buffered() > relayTrimAbove {
		t.Errorf("%d frames still standing after %d slots", d.buffered(), 3*relayTrimWindow)
	}
	if got := d.br.dropped.Load(); got == 0 || got > 3 {
		t.Errorf("trimmed %d frames, want 1–3", got)
	}
}

func TestJitterBufferDiscardKeepsNoBacklogForAfterAPrompt(t *testing.T) {
	d := testDir()
	for i := range 4 {
		d.pushAudio(numbered(i), uint32(i*FrameSize), PayloadPCMU)
	}
	d.discard()
	if d.buffered() != 0 || d.br.dropped.Load() != 4 {
		t.Fatalf("after discard: %d buffered, %d dropped", d.buffered(), d.br.dropped.Load())
	}
	d.pushAudio(numbered(9), 9*FrameSize, PayloadPCMU)
	dst := make([]byte, FrameSize)
	d.pop(dst, PayloadPCMU)
	if !d.pop(dst, PayloadPCMU) || frameIndex(dst) != 9 {
		t.Error("relay did not resume with the fresh frame")
	}
}

func TestJitterBufferTranscodesOnTheWayOut(t *testing.T) {
	tests := []struct {
		name     string
		from, to uint8
		want     func(b byte) byte
	}{
		{"PCMU to PCMA", PayloadPCMU, PayloadPCMA, func(b byte) byte {
			var pcm [1]int16
			var out [1]byte
			DecodePCMU(pcm[:], []byte{b})
			EncodePCMA(out[:], pcm[:])
			return out[0]
		}},
		{"PCMA to PCMU", PayloadPCMA, PayloadPCMU, func(b byte) byte {
			var pcm [1]int16
			var out [1]byte
			DecodePCMA(pcm[:], []byte{b})
			EncodePCMU(out[:], pcm[:])
			return out[0]
		}},
		{"same codec is copied", PayloadPCMA, PayloadPCMA, func(b byte) byte { return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDir()
			// Every code, 256 of them over two frames.
			in := make([]byte, 2*FrameSize)
			for i := range in {
				in[i] = byte(i)
			}
			d.pushAudio(in, 0, tt.from)
			dst := make([]byte, FrameSize)
			var out []byte
			for range 3 {
				if d.pop(dst, tt.to) {
					out = append(out, dst...)
				}
			}
			if len(out) != len(in) {
				t.Fatalf("relayed %d bytes, want %d", len(out), len(in))
			}
			for i, b := range in {
				if want := tt.want(b); out[i] != want {
					t.Fatalf("code %#x relayed as %#x, decode+encode gives %#x", b, out[i], want)
				}
			}
			wantCount := uint64(2)
			if tt.from == tt.to {
				wantCount = 0
			}
			if got := d.br.transcoded.Load(); got != wantCount {
				t.Errorf("transcoded %d frames, want %d", got, wantCount)
			}
		})
	}
}

func TestReframingJoinsOtherPacketSizesIntoTwentyMillisecondFrames(t *testing.T) {
	stream := make([]byte, 12*FrameSize)
	for i := range stream {
		stream[i] = byte(i % 251)
	}
	tests := []struct {
		name  string
		sizes []int // payload sizes, repeated
	}{
		{"ptime 20", []int{160}},
		{"ptime 10", []int{80}},
		{"ptime 30", []int{240}},
		{"mixed sizes", []int{80, 240, 160, 40, 120}},
		{"60 ms in one packet", []int{480}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDir()
			dst := make([]byte, FrameSize)
			var out []byte
			drain := func() {
				for range 2 {
					for d.pop(dst, PayloadPCMU) {
						out = append(out, dst...)
					}
				}
			}
			for off, i := 0, 0; off < len(stream); i++ {
				n := min(tt.sizes[i%len(tt.sizes)], len(stream)-off)
				d.pushAudio(stream[off:off+n], uint32(off), PayloadPCMU)
				off += n
				drain()
			}
			if !bytes.Equal(out, stream) {
				t.Errorf("relayed %d bytes, not the %d sent byte-exact", len(out), len(stream))
			}
			if d.br.dropped.Load() != 0 {
				t.Errorf("dropped %d", d.br.dropped.Load())
			}
		})
	}
}

func TestReframingPadsAPartialFrameThatThePacketAfterDoesNotContinue(t *testing.T) {
	d := testDir()
	d.pushAudio(bytes.Repeat([]byte{1}, 80), 1000, PayloadPCMU)
	// A packet was lost: the next one starts 160 samples later.
	d.pushAudio(bytes.Repeat([]byte{2}, 160), 1240, PayloadPCMU)
	dst := make([]byte, FrameSize)
	var frames [][]byte
	for range 3 {
		if d.pop(dst, PayloadPCMU) {
			frames = append(frames, bytes.Clone(dst))
		}
	}
	want := [][]byte{
		append(bytes.Repeat([]byte{1}, 80), bytes.Repeat([]byte{silencePCMU}, 80)...),
		bytes.Repeat([]byte{2}, 160),
	}
	if len(frames) != 2 || !bytes.Equal(frames[0], want[0]) || !bytes.Equal(frames[1], want[1]) {
		t.Errorf("got %d frames %x, want the half frame padded with silence, then the next", len(frames), frames)
	}
}

func FuzzReframing(f *testing.F) {
	f.Add(bytes.Repeat([]byte{7}, 500), uint8(79))
	f.Add(bytes.Repeat([]byte{9}, 1000), uint8(159))
	f.Add([]byte{1, 2, 3}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		d := testDir()
		size := int(cut)%240 + 1
		dst := make([]byte, FrameSize)
		var out []byte
		for off := 0; off < len(data); off += size {
			chunk := data[off:min(off+size, len(data))]
			d.pushAudio(chunk, uint32(off), PayloadPCMU)
			if d.buffered() > relayRing {
				t.Fatalf("%d frames in a ring of %d", d.buffered(), relayRing)
			}
			for range 2 {
				for d.pop(dst, PayloadPCMU) {
					out = append(out, dst...)
				}
			}
		}
		whole := len(data) / FrameSize * FrameSize
		if !bytes.Equal(out, data[:whole]) {
			t.Fatalf("relayed %d bytes, not the first %d of the stream", len(out), whole)
		}
		if int(d.ring.partialN) != len(data)-whole {
			t.Fatalf("%d bytes pending, want %d", d.ring.partialN, len(data)-whole)
		}
	})
}
