package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/analysis"
	"github.com/pion/rtp"
)

// speechWAV is labelled Mandarin at about 120 characters a minute: 0.5 s
// lead, speech 0.5–4.663 s, silence to 5.863 s, more speech after
// (manifest.json beside it).
const speechWAV = "../../shared/speech/cmn_120cpm.wav"

// loadSpeech returns the labelled speech, skipping the test without it.
func loadSpeech(t testing.TB) []int16 {
	t.Helper()
	pcm, err := readWAV(speechWAV)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("labelled speech not available: %v", err)
	}
	if err != nil {
		t.Fatalf("read %s: %v", speechWAV, err)
	}
	return pcm
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
	fmtOK := false
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8 : min(len(b), p+8+size)]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, errors.New("short fmt chunk")
			}
			format, ch := binary.LittleEndian.Uint16(body[0:2]), binary.LittleEndian.Uint16(body[2:4])
			rate, bits := binary.LittleEndian.Uint32(body[4:8]), binary.LittleEndian.Uint16(body[14:16])
			if format != 1 || ch != 1 || rate != analysis.SampleRate || bits != 16 {
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

// pcmuFrames encodes pcm as 160-byte PCMU frames, the last padded with
// silence.
func pcmuFrames(pcm []int16) [][]byte {
	var out [][]byte
	for off := 0; off < len(pcm); off += FrameSize {
		f := make([]byte, FrameSize)
		n := EncodePCMU(f, pcm[off:min(off+FrameSize, len(pcm))])
		fillSilence(f[n:], silencePCMU)
		out = append(out, f)
	}
	return out
}

// directSummary is what the analysis package makes of frames fed to it
// directly, decoded exactly as the session decodes them.
func directSummary(frames [][]byte) analysis.LegSummary {
	leg := analysis.NewLeg()
	var pcm [FrameSize]int16
	for _, f := range frames {
		DecodePCMU(pcm[:], f)
		leg.Frame(pcm[:])
	}
	return leg.Summary()
}

// sendAt sends frames[i] to dst as RTP of payload type pt at start+at(i),
// with RTP timestamp ts(i), until the frames run out or stop is closed.
func (p *peer) sendAt(dst netip.AddrPort, pt uint8, frames [][]byte, at func(int) time.Duration, ts func(int) uint32, stop <-chan struct{}) {
	start := time.Now()
	for i, f := range frames {
		if d := time.Until(start.Add(at(i))); d > 0 {
			select {
			case <-time.After(d):
			case <-stop:
				return
			}
		}
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(i), Timestamp: ts(i), SSRC: 7}, Payload: f}).Marshal()
		if _, err := p.conn.WriteToUDPAddrPort(b, dst); err != nil {
			return
		}
	}
}

func steadyAt(i int) time.Duration { return time.Duration(i) * FrameDuration }
func frameTS(i int) uint32         { return uint32(i) * FrameSize }

// analyseOverLoopback sends frames to a started session with a leg
// analyser on the given schedule and returns the leg's summary once the
// session has had time to consume them.
func analyseOverLoopback(t *testing.T, e *Engine, frames [][]byte, at func(int) time.Duration, ts func(int) uint32) analysis.LegSummary {
	t.Helper()
	s := newTestSession(t, e)
	far := newPeer(t)
	if err := s.Configure(far.addr(), PayloadPCMU, 101); err != nil {
		t.Fatal(err)
	}
	leg := analysis.NewLeg()
	s.Analyse(leg)
	s.Start()
	far.sendAt(s.localAddr(), PayloadPCMU, frames, at, ts, nil)
	// The ring holds at most a burst; within 100 ms it is drained and at
	// most the tolerated empty slots have passed.
	time.Sleep(100 * time.Millisecond)
	s.Analyse(nil) // from here the engine no longer touches leg
	if got := s.Stats().AnalysisOverruns; got != 0 {
		t.Errorf("%d received frames overran the analysis buffer", got)
	}
	return leg.Summary()
}

func within(got, want, tol time.Duration) bool {
	d := got - want
	return d >= -tol && d <= tol
}

// The first 5.6 s of the labelled file: the first utterance (4.2 s of
// speech, enough for a pace) and the silence after it.
const loopbackFrames = 280

func TestReceivedSpeechIsAnalysedAsTheAnalysisPackageWould(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr Transport) {
		frames := pcmuFrames(loadSpeech(t))[:loopbackFrames]
		want := directSummary(frames)
		e := newTestEngine(t, tr, nil)
		got := analyseOverLoopback(t, e, frames, steadyAt, frameTS)
		t.Logf("direct: %+v", want)
		t.Logf("session: %+v", got)
		if !within(got.Talk, want.Talk, 2*FrameDuration) {
			t.Errorf("talk %v, analysed directly %v (want within two frames)", got.Talk, want.Talk)
		}
		if d := got.Syllables - want.Syllables; d < -1 || d > 1 {
			t.Errorf("%d syllables, analysed directly %d", got.Syllables, want.Syllables)
		}
		if got.Pace <= 0 {
			t.Errorf("pace %v, want a pace from %v of talk", got.Pace, got.Talk)
		}
		// Audio silence (the part of Silence that was received audio) is what
		// the file holds; the session adds only empty slots as Missing.
		if audio := got.Silence - got.Missing; !within(audio, want.Silence, 2*FrameDuration) {
			t.Errorf("silence in the received audio %v, analysed directly %v", audio, want.Silence)
		}
	})
}

func TestBurstyArrivalIsNotSilenceButARealGapIs(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr Transport) {
		frames := pcmuFrames(loadSpeech(t))[:loopbackFrames]
		e := newTestEngine(t, tr, nil)
		const gapAt = 255 // 5.1 s: inside the silence after the first utterance
		schedules := []struct {
			name string
			at   func(int) time.Duration
			ts   func(int) uint32
		}{
			{"steady", steadyAt, frameTS},
			// Held back and released three at a time, up to 40 ms late.
			{"bursts of three every 60 ms", func(i int) time.Duration { return time.Duration(i/3*3+2) * FrameDuration }, frameTS},
			// Nothing at all for one second (the RTP clock runs on).
			{"one second gap", func(i int) time.Duration {
				if i >= gapAt {
					return steadyAt(i) + time.Second
				}
				return steadyAt(i)
			}, func(i int) uint32 {
				if i >= gapAt {
					return frameTS(i) + analysis.SampleRate
				}
				return frameTS(i)
			}},
		}
		sums := make([]analysis.LegSummary, len(schedules))
		var wg sync.WaitGroup
		for i, sc := range schedules {
			wg.Go(func() { sums[i] = analyseOverLoopback(t, e, frames, sc.at, sc.ts) })
		}
		wg.Wait()
		steady, bursty, gap := sums[0], sums[1], sums[2]
		for i, sc := range schedules {
			t.Logf("%s: %+v", sc.name, sums[i])
		}
		total := steady.Talk + steady.Silence
		tol := total / 50 // 2 %
		if !within(bursty.Talk, steady.Talk, tol) || !within(bursty.Silence, steady.Silence, tol) {
			t.Errorf("bursts: talk %v silence %v; steady: talk %v silence %v (want within 2 %% = %v)",
				bursty.Talk, bursty.Silence, steady.Talk, steady.Silence, tol)
		}
		if !within(gap.Talk, steady.Talk, tol) {
			t.Errorf("with a gap: talk %v, steady %v", gap.Talk, steady.Talk)
		}
		// The gap counts from its fourth empty slot: 1 s less three frames.
		if extra := gap.Missing - steady.Missing; !within(extra, time.Second-analysisJitterSlots*FrameDuration, 100*time.Millisecond) {
			t.Errorf("a 1 s gap added %v of missing audio, want about 1 s", extra)
		}
		if extra := gap.Silence - steady.Silence; !within(extra, time.Second, 150*time.Millisecond) {
			t.Errorf("a 1 s gap added %v of silence, want about 1 s", extra)
		}
	})
}

func TestPromptsAreNotDeadAirButTheSilenceAfterThemIs(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		sink := newPeer(t)
		s.Configure(sink.addr(), PayloadPCMU, 101)
		leg := analysis.NewLeg()
		s.Analyse(leg)
		speechEvents(s)
		s.Converse(analysis.NewConversation(leg, nil, analysis.WithDeadAirThreshold(time.Second)))
		s.Start()

		// A 1.5 s prompt: longer than the threshold, and nothing is received.
		prompt := make([]byte, 75*FrameSize)
		fillSilence(prompt, silencePCMU)
		if err := s.Play(t.Context(), prompt); err != nil {
			t.Fatal(err)
		}
		ended := time.Now()
		sum, ok := s.ConversationSummary()
		if !ok {
			t.Fatal("no conversation summary with a conversation attached")
		}
		if sum.DeadAir > 2*FrameDuration || sum.Duration < time.Second {
			t.Errorf("after a 1.5 s prompt: dead air %v over %v, want none", sum.DeadAir, sum.Duration)
		}
		select {
		case ev := <-speechEvents(s):
			t.Fatalf("event %v while the prompt played", ev)
		default:
		}

		select {
		case ev := <-speechEvents(s):
			after := time.Since(ended)
			if ev != analysis.DeadAirStarted {
				t.Fatalf("event %v, want %v", ev, analysis.DeadAirStarted)
			}
			if after < 900*time.Millisecond || after > 1600*time.Millisecond {
				t.Errorf("dead air reported %v after the prompt ended, want about 1 s", after)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no dead-air event 3 s after the prompt ended")
		}
		sum, _ = s.ConversationSummary()
		if sum.DeadAir < 900*time.Millisecond || sum.DeadAirEvents != 1 {
			t.Errorf("dead air %v in %d events, want ≥ 0.9 s in 1", sum.DeadAir, sum.DeadAirEvents)
		}
		if _, ok := s.LegSummary(); !ok {
			t.Error("no leg summary with an analyser attached")
		}
	})
}

func TestBridgedConversationSeesBothLegsAndHoldStopsDeadAir(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr Transport) {
		var speech [][]byte
		if pcm, err := readWAV(speechWAV); err == nil {
			speech = pcmuFrames(pcm)[25:125] // 2 s of talk from 0.5 s
		} else {
			t.Logf("without labelled speech (%v): dead air and hold only", err)
		}
		e := newTestEngine(t, tr, nil)
		caller, agent := newTestSession(t, e), newTestSession(t, e)
		callerPhone, agentPhone := newPeer(t), newPeer(t)
		caller.Configure(callerPhone.addr(), PayloadPCMU, 101)
		agent.Configure(agentPhone.addr(), PayloadPCMA, 101)
		caller.Start()
		agent.Start()
		br, err := e.Bridge(caller, agent)
		if err != nil {
			t.Fatal(err)
		}
		defer br.Close()
		callerLeg, agentLeg := analysis.NewLeg(), analysis.NewLeg()
		agent.Analyse(agentLeg)
		caller.Analyse(callerLeg)
		speechEvents(caller)
		caller.Converse(analysis.NewConversation(callerLeg, agentLeg, analysis.WithDeadAirThreshold(time.Second)))

		// Both phones send audio all along, so both legs' analysers run in
		// their own sessions' slots while the conversation reads them.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		silent := make([][]byte, 1000)
		for i := range silent {
			silent[i] = make([]byte, FrameSize)
			fillSilence(silent[i], silencePCMU)
		}
		wg.Go(func() { callerPhone.sendAt(caller.localAddr(), PayloadPCMU, silent, steadyAt, frameTS, stop) })
		agentAudio := make([][]byte, 0, len(silent))
		for _, f := range speech {
			a := make([]byte, FrameSize)
			for i, b := range f {
				a[i] = ulawToAlaw[b]
			}
			agentAudio = append(agentAudio, a)
		}
		for len(agentAudio) < len(silent) {
			a := make([]byte, FrameSize)
			fillSilence(a, silencePCMA)
			agentAudio = append(agentAudio, a)
		}
		started := time.Now()
		wg.Go(func() { agentPhone.sendAt(agent.localAddr(), PayloadPCMA, agentAudio, steadyAt, frameTS, stop) })
		defer func() { close(stop); wg.Wait() }()

		talkEnds := started.Add(time.Duration(len(speech)) * FrameDuration)
		select {
		case ev := <-speechEvents(caller):
			after := time.Since(talkEnds)
			if ev != analysis.DeadAirStarted {
				t.Fatalf("event %v, want %v", ev, analysis.DeadAirStarted)
			}
			if after < 800*time.Millisecond {
				t.Errorf("dead air reported %v after the agent stopped talking, want about 1 s", after)
			}
		case <-time.After(time.Until(talkEnds) + 3*time.Second):
			t.Fatal("no dead-air event with both parties silent for 3 s")
		}
		sum, _ := caller.ConversationSummary()
		if len(speech) > 0 && sum.AgentTalk < time.Second {
			t.Errorf("agent talk %v in the caller's conversation, want the agent's ~2 s", sum.AgentTalk)
		}
		if sum.CallerTalk != 0 {
			t.Errorf("caller talk %v from a silent caller", sum.CallerTalk)
		}

		caller.SetHold(true)
		select {
		case ev := <-speechEvents(caller):
			if ev != analysis.DeadAirEnded {
				t.Errorf("event %v on hold, want %v", ev, analysis.DeadAirEnded)
			}
		case <-time.After(time.Second):
			t.Error("no end of dead air on hold")
		}
		before, _ := caller.ConversationSummary()
		time.Sleep(600 * time.Millisecond)
		after, _ := caller.ConversationSummary()
		if grew := after.DeadAir - before.DeadAir; grew > FrameDuration {
			t.Errorf("dead air grew %v on hold", grew)
		}
		if held := after.Held - before.Held; held < 400*time.Millisecond {
			t.Errorf("held time grew %v in 600 ms on hold", held)
		}
		if got, ok := agent.LegSummary(); !ok || (len(speech) > 0 && got.Talk < time.Second) {
			t.Errorf("agent leg summary %+v (attached %v), want its talk", got, ok)
		}
	})
}

// slotRig drives one offline session's receive path and pacer slots by
// hand: deterministic, no clock, no sockets.
type slotRig struct {
	p       *pacer
	s       *Session
	src     netip.AddrPort
	seq     uint16
	ts      uint32
	now     int64
	payload []byte
	pkt     rtp.Packet // the receive path's, as a reader's
}

func newSlotRig(t testing.TB) *slotRig {
	t.Helper()
	e := newTestEngine(t, TransportPortPerCall, nil)
	r := &slotRig{
		p:       newPacer(e, &nullSender{}),
		s:       offlineSession(e, false),
		src:     netip.AddrPortFrom(loopback, 4000),
		payload: make([]byte, FrameSize),
	}
	// A loud square wave, so the analyser has something to analyse.
	for i := range r.payload {
		r.payload[i] = linearToUlaw[uint16(int16(8000*(1-2*(i/20%2))))]
	}
	r.p.join(r.s)
	return r
}

// receive hands the session one packet; kind is 'a' (20 ms of audio), 'h'
// (10 ms), 'c' (comfort noise), 'e' (telephone-event) or 'x' (20 ms of
// audio from a stray source).
func (r *slotRig) receive(kind byte) {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: r.seq, Timestamp: r.ts, SSRC: 9}}
	src := r.src
	switch kind {
	case 'a', 'x':
		pkt.Payload = r.payload
		if kind == 'x' {
			src = netip.AddrPortFrom(loopback, 5000)
		}
	case 'h':
		pkt.Payload = r.payload[:FrameSize/2]
	case 'c':
		pkt.PayloadType, pkt.Payload = payloadCN, []byte{60}
	case 'e':
		pkt.PayloadType, pkt.Payload = 101, []byte{1, 10, 0, 160}
	}
	b, _ := pkt.Marshal()
	r.s.handlePacket(b, src, r.now, &r.pkt)
	r.seq++
	if kind != 'e' && kind != 'x' {
		r.ts += uint32(len(pkt.Payload))
	}
}

// run plays slots: before each slot the session receives the packets
// listed for it.
func (r *slotRig) run(slots ...string) {
	for _, pkts := range slots {
		for i := range len(pkts) {
			r.receive(pkts[i])
		}
		r.p.tick(r.now)
		r.now += frameNanos
	}
}

func repeat(n int, slots ...string) []string {
	var out []string
	for range n {
		out = append(out, slots...)
	}
	return out
}

func TestAnalysisSlots(t *testing.T) {
	for _, c := range []struct {
		name        string
		slots       []string
		fed, silent int64 // frames given to Frame, and to Silence
	}{
		{"a frame received per slot is analysed once per slot", repeat(10, "a"), 10, 0},
		{"a burst of three every third slot is analysed one frame per slot", repeat(4, "aaa", "", ""), 12, 0},
		{"up to three empty slots in a row are jitter, not silence", []string{"a", "", "", "", "a"}, 2, 0},
		{"empty slots past the third count as silence each", append([]string{"a"}, repeat(10, "")...), 1, 7},
		{"a 10 ms ptime is joined into 20 ms frames", repeat(10, "hh"), 10, 0},
		{"comfort noise is no audio", repeat(10, "c"), 0, 7},
		{"telephone-events are no audio", repeat(10, "e"), 0, 7},
		{"audio from a stray source is not analysed", []string{"a", "x", "x", "x", "x"}, 1, 1},
		{"no packets at all are silence after the jitter allowance", repeat(10, ""), 0, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newSlotRig(t)
			leg := analysis.NewLeg()
			conv := analysis.NewConversation(leg, nil)
			r.s.Analyse(leg)
			r.s.Converse(conv)
			r.run(c.slots...)
			silent := int64(leg.Summary().Missing / FrameDuration)
			if fed := leg.Frames() - silent; fed != c.fed || silent != c.silent {
				t.Errorf("analysed %d frames and %d of silence, want %d and %d", fed, silent, c.fed, c.silent)
			}
			if got, want := conv.Summary().Duration, time.Duration(len(c.slots))*FrameDuration; got != want {
				t.Errorf("conversation ticked for %v, want one tick per slot (%v)", got, want)
			}
		})
	}
}

func TestSkippedSlotsStillCountForAnalysis(t *testing.T) {
	r := newSlotRig(t)
	leg := analysis.NewLeg()
	conv := analysis.NewConversation(leg, nil)
	r.s.Analyse(leg)
	r.s.Converse(conv)
	r.run("a")
	// The pacer falls a second behind: it skips to the frame due now.
	r.p.tick(r.now + int64(time.Second))
	if got := r.p.skipped.Load(); got != 50 {
		t.Fatalf("skipped %d frames, want 50", got)
	}
	if got, want := conv.Summary().Duration, 52*FrameDuration; got != want {
		t.Errorf("conversation ticked for %v, want %v: every slot, sent or skipped", got, want)
	}
	if got := leg.Frames(); got != 52-analysisJitterSlots {
		t.Errorf("leg saw %d frames, want %d", got, 52-analysisJitterSlots)
	}
}

func TestConversationHearsWhetherTheSessionPlays(t *testing.T) {
	r := newSlotRig(t)
	r.s.play = &player{clips: [][]byte{sharedClip}, result: make(chan error, 1), unwatch: noUnwatch}
	leg := analysis.NewLeg()
	conv := analysis.NewConversation(leg, nil, analysis.WithDeadAirThreshold(time.Second))
	r.s.Analyse(leg)
	speechEvents(r.s)
	r.s.Converse(conv)
	r.run(repeat(100, "")...) // 2 s of prompt, nothing received
	select {
	case ev := <-speechEvents(r.s):
		t.Fatalf("event %v while playing", ev)
	default:
	}
	if d := conv.Summary().DeadAir; d != 0 {
		t.Errorf("dead air %v while playing", d)
	}
	r.s.mu.Lock()
	r.s.play = nil
	r.s.mu.Unlock()
	r.run(repeat(49, "")...)
	select {
	case ev := <-speechEvents(r.s):
		t.Fatalf("event %v before the threshold", ev)
	default:
	}
	r.run("")
	select {
	case ev := <-speechEvents(r.s):
		if ev != analysis.DeadAirStarted {
			t.Errorf("event %v, want %v", ev, analysis.DeadAirStarted)
		}
	default:
		t.Error("no dead-air event at the threshold")
	}
}

func TestSpeechEventsGoToTheRegisteredFunctionUntilItIsRemoved(t *testing.T) {
	r := newSlotRig(t)
	leg := analysis.NewLeg()
	r.s.Analyse(leg)
	r.s.Converse(analysis.NewConversation(leg, nil, analysis.WithDeadAirThreshold(time.Second)))
	var got []analysis.Event
	r.s.OnSpeechEvent(func(ev analysis.Event) { got = append(got, ev) })
	// Each round: 1.2 s of silence (DeadAirStarted), then hold
	// (DeadAirEnded): two events a round.
	round := func() {
		r.run(repeat(60, "")...)
		r.s.SetHold(true)
		r.run("")
		r.s.SetHold(false)
	}
	for range 3 {
		round()
	}
	want := []analysis.Event{analysis.DeadAirStarted, analysis.DeadAirEnded, analysis.DeadAirStarted, analysis.DeadAirEnded, analysis.DeadAirStarted, analysis.DeadAirEnded}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	r.s.OnSpeechEvent(nil)
	round()
	if len(got) != len(want) {
		t.Errorf("events after OnSpeechEvent(nil): %v", got[len(want):])
	}
}

func TestDetachedAnalysersAreLeftAlone(t *testing.T) {
	r := newSlotRig(t)
	leg := analysis.NewLeg()
	conv := analysis.NewConversation(leg, nil)
	r.s.Analyse(leg)
	r.s.Converse(conv)
	r.run("a", "a")
	r.s.Analyse(nil)
	r.s.Converse(nil)
	r.run("a", "a", "", "", "", "", "")
	if got := leg.Frames(); got != 2 {
		t.Errorf("leg saw %d frames, want the 2 before it was detached", got)
	}
	if got := conv.Summary().Duration; got != 2*FrameDuration {
		t.Errorf("conversation ticked for %v after it was detached", got)
	}
	if _, ok := r.s.LegSummary(); ok {
		t.Error("leg summary with no analyser attached")
	}
	if _, ok := r.s.ConversationSummary(); ok {
		t.Error("conversation summary with no conversation attached")
	}
	r.s.SetHold(true) // no conversation: nothing to do, nothing to break

	// A new analyser starts from an empty buffer: the frames received
	// while none was attached are not its audio.
	fresh := analysis.NewLeg()
	r.s.Analyse(fresh)
	r.run("")
	if got := fresh.Frames(); got != 0 {
		t.Errorf("a fresh analyser was fed %d stale frames", got)
	}
}

func TestReceivedAudioIsCutIntoWholeFrames(t *testing.T) {
	payload := func(n int, first byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = first + byte(i)
		}
		return b
	}
	decode := func(tbl *[256]int16, parts ...[]byte) []int16 {
		var out []int16
		for _, p := range parts {
			for _, b := range p {
				out = append(out, tbl[b])
			}
		}
		return out
	}
	type pkt struct {
		b  []byte
		ts uint32
		pt uint8
	}
	a160, a80, b80 := payload(160, 0), payload(80, 0), payload(80, 80)
	a240, b240 := payload(240, 0), payload(240, 240)
	for _, c := range []struct {
		name string
		pkts []pkt
		want [][]int16
	}{
		{"a 20 ms PCMU payload is one frame", []pkt{{a160, 0, PayloadPCMU}},
			[][]int16{decode(&ulawToLinear, a160)}},
		{"a 20 ms PCMA payload is decoded as A-law", []pkt{{a160, 0, PayloadPCMA}},
			[][]int16{decode(&alawToLinear, a160)}},
		{"two 10 ms payloads are joined", []pkt{{a80, 0, PayloadPCMU}, {b80, 80, PayloadPCMU}},
			[][]int16{decode(&ulawToLinear, a80, b80)}},
		{"30 ms payloads are cut and joined", []pkt{{a240, 0, PayloadPCMU}, {b240, 240, PayloadPCMU}},
			[][]int16{decode(&ulawToLinear, a240[:160]), decode(&ulawToLinear, a240[160:], b240[:80]), decode(&ulawToLinear, b240[80:])}},
		{"a half frame not continued is completed with silence", []pkt{{a80, 0, PayloadPCMU}, {b80, 800, PayloadPCMU}},
			[][]int16{append(decode(&ulawToLinear, a80), make([]int16, 80)...)}},
		{"a codec change does not splice two codecs into one frame", []pkt{{a80, 0, PayloadPCMU}, {a160, 80, PayloadPCMA}},
			[][]int16{append(decode(&ulawToLinear, a80), make([]int16, 80)...), decode(&alawToLinear, a160)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := analysedRing()
			for _, p := range c.pkts {
				r.push(p.b, p.ts, p.pt, 1)
			}
			var got [][]int16
			var f [FrameSize]int16
			for r.popAnalysis(&f) {
				got = append(got, append([]int16(nil), f[:]...))
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d frames, want %d", len(got), len(c.want))
			}
			for i := range got {
				if fmt.Sprint(got[i]) != fmt.Sprint(c.want[i]) {
					t.Errorf("frame %d:\n got %v\nwant %v", i, got[i], c.want[i])
				}
			}
		})
	}
}

// analysedRing is a ring with the analyser of generation 1 attached.
func analysedRing() *rxRing {
	r := new(rxRing)
	r.attachAnalysis(1, true)
	return r
}

func TestAFullAnalysisBufferDropsItsOldestFrames(t *testing.T) {
	r := analysedRing()
	for i := range rxRingSize + 2 {
		r.push(make([]byte, FrameSize), uint32(i*FrameSize), PayloadPCMU, 1)
	}
	for i := range rxRingSize + 2 {
		b := make([]byte, FrameSize)
		b[0] = byte(i)
		r.push(b, uint32((rxRingSize+2+i)*FrameSize), PayloadPCMU, 1)
	}
	if got := r.overruns.Load(); got != rxRingSize+4 {
		t.Errorf("%d overruns, want %d", got, rxRingSize+4)
	}
	var f [FrameSize]int16
	for i := 2; i < rxRingSize+2; i++ {
		if !r.popAnalysis(&f) || f[0] != ulawToLinear[byte(i)] {
			t.Fatalf("frame %d: got sample %d, want the newest frames in order", i, f[0])
		}
	}
	if r.popAnalysis(&f) {
		t.Error("more frames than the ring holds")
	}
}

func FuzzReceivedAudioFraming(f *testing.F) {
	f.Add([]byte{80, 0, 80, 0, 240, 0}, uint8(0))
	f.Add([]byte{160, 8, 1, 0, 0, 13}, uint8(7))
	f.Fuzz(func(t *testing.T, script []byte, seed uint8) {
		r := analysedRing()
		ts := uint32(seed)
		buf := make([]byte, 1500)
		var fr [FrameSize]int16
		for i := 0; i+1 < len(script); i += 2 {
			n := int(script[i]) * 4
			pt := PayloadPCMU
			if script[i+1]&1 == 1 {
				pt = PayloadPCMA
			}
			r.push(buf[:n], ts, pt, 1)
			ts += uint32(n) + uint32(script[i+1]&2)
			if script[i+1]&4 == 4 {
				r.popAnalysis(&fr)
			}
			if n := r.w - r.anR; n > rxRingSize || r.partialN < 0 || r.partialN >= FrameSize {
				t.Fatalf("ring %d frames, partial %d samples", n, r.partialN)
			}
		}
	})
}

func TestAnalysedSlotAllocatesNothing(t *testing.T) {
	r := newSlotRig(t)
	leg := analysis.NewLeg()
	r.s.Analyse(leg)
	r.s.Converse(analysis.NewConversation(leg, nil, analysis.WithDeadAirThreshold(time.Second)))
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2}, Payload: r.payload}).Marshal()
	r.s.handlePacket(audio, r.src, 0, &r.pkt)
	due := int64(0)
	for name, receive := range map[string]bool{"audio": true, "silence": false} {
		if a := testing.AllocsPerRun(1000, func() {
			if receive {
				r.s.handlePacket(audio, r.src, due, &r.pkt)
			}
			r.p.sendFrame(r.s, due)
			due += frameNanos
		}); a != 0 {
			t.Errorf("%s: %v allocations per slot", name, a)
		}
	}
}

// benchSpeech is 20 ms PCMU frames of the labelled speech, or of a
// synthetic voiced signal when the file is not there.
func benchSpeech(b *testing.B) [][]byte {
	if pcm, err := readWAV(speechWAV); err == nil {
		return pcmuFrames(pcm)
	}
	pcm := make([]int16, 10*analysis.SampleRate)
	for i := range pcm {
		t := float64(i) / analysis.SampleRate
		env := math.Max(0, math.Sin(2*math.Pi*2*t)) // four syllables a second
		pcm[i] = int16(6000 * env * (math.Sin(2*math.Pi*140*t) + 0.5*math.Sin(2*math.Pi*700*t)))
	}
	return pcmuFrames(pcm)
}

// BenchmarkAnalysedSlot is one 20 ms slot of a session: the receive path
// for one packet (validation, unmarshal, latch, decode into the ring) and
// the pacer's slot (build and "send" the frame into a null sender, then
// Frame and a conversation Tick). "off" is the same without analysis.
func BenchmarkAnalysedSlot(b *testing.B) {
	speech := benchSpeech(b)
	pkts := make([][]byte, len(speech))
	for i, f := range speech {
		pkts[i], _ = (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: frameTS(i)}, Payload: f}).Marshal()
	}
	for _, c := range []struct {
		name          string
		leg, converse bool
		receive       bool
	}{
		{"off", false, false, true},
		{"speech", true, false, true},
		{"speech+conversation", true, true, true},
		{"no-packets+conversation", true, true, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := newSlotRig(b)
			leg := analysis.NewLeg()
			if c.leg {
				r.s.Analyse(leg)
			}
			if c.converse {
				r.s.Converse(analysis.NewConversation(leg, nil))
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if c.receive {
					r.s.handlePacket(pkts[i%len(pkts)], r.src, r.now, &r.pkt)
				}
				r.p.sendFrame(r.s, r.now)
				r.now += frameNanos
				i++
			}
		})
	}
}

// BenchmarkPacerTickAnalysed is one pacer tick over N sessions that each
// have a leg analyser and a conversation and each received one frame of
// speech before the tick (decoded into their rings, which is counted):
// the whole per-slot cost of analysis at scale, syscalls aside.
func BenchmarkPacerTickAnalysed(b *testing.B) {
	speech := benchSpeech(b)
	for _, n := range []int{1000, 5000} {
		for _, on := range []bool{false, true} {
			name := fmt.Sprintf("streams=%d/analysis=%v", n, on)
			b.Run(name, func(b *testing.B) {
				e := newTestEngine(b, TransportPortPerCall, nil)
				p := newPacer(e, &nullSender{})
				ss := make([]*Session, n)
				for i := range ss {
					s := offlineSession(e, false)
					if on {
						leg := analysis.NewLeg()
						s.Analyse(leg)
						s.Converse(analysis.NewConversation(leg, nil))
					}
					ss[i] = s
					p.join(s)
				}
				now := int64(0)
				p.tick(now)
				slot := 0
				b.ReportAllocs()
				for b.Loop() {
					now += frameNanos
					slot++
					for i, s := range ss {
						if on {
							s.ring.push(speech[(slot+i*7)%len(speech)], frameTS(slot), PayloadPCMU, s.analysisGen.Load())
						}
					}
					p.tick(now)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/stream")
			})
		}
	}
}

func TestBridgedSessionsShareOneAnalysisLockForGood(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		a, b, c := newTestSession(t, e), newTestSession(t, e), newTestSession(t, e)
		if a.alock.Load() == b.alock.Load() {
			t.Fatal("unbridged sessions share an analysis lock")
		}
		br, err := e.Bridge(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if a.alock.Load() != b.alock.Load() {
			t.Error("bridged sessions do not share an analysis lock")
		}
		br.Close()
		if a.alock.Load() != b.alock.Load() {
			t.Error("the shared analysis lock was given up with the bridge")
		}
		// b moves on to c: a conversation on a may still read b's analyser, so
		// all three now share.
		if _, err := e.Bridge(c, b); err != nil {
			t.Fatal(err)
		}
		if l := a.alock.Load(); b.alock.Load() != l || c.alock.Load() != l {
			t.Error("sessions bridged in a chain do not all share one analysis lock")
		}
		l := a.lockAnalysis()
		if l != c.alock.Load() {
			t.Error("lockAnalysis returned another lock than the session's")
		}
		l.mu.Unlock()
	})
}

// A leg on hold may send nothing; AllowQuiet keeps the inactivity check
// from ending it, and the timeout restarts when the hold ends.
func TestAllowQuietSuspendsInactivity(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, func(c *EngineConfig) { c.InactivityTimeout = 300 * time.Millisecond })
		s := newTestSession(t, e)
		s.Configure(netip.MustParseAddrPort("127.0.0.1:9"), PayloadPCMU, 0)
		s.AllowQuiet(true)
		s.Start()
		select {
		case <-s.Inactive():
			t.Fatal("inactivity fired on a leg allowed to be quiet")
		case <-time.After(900 * time.Millisecond):
		}
		s.AllowQuiet(false)
		select {
		case <-s.Inactive():
		case <-time.After(2 * time.Second):
			t.Fatal("inactivity never fired after the quiet spell ended")
		}
	})
}
