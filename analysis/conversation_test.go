package analysis

import (
	"errors"
	"math"
	"testing"
	"time"
)

// scene scripts a call slot by slot. Each character of a track stands for
// unit of time: 'T' talk (a tone), '.' silence, 'm' missing frames
// (Silence); for hold and playing, 'H' / 'P' switch the state on and
// anything else off.
type scene struct {
	unit            time.Duration
	caller, agent   string // agent "" means an IVR-only call
	hold, playing   string
	opts            []ConvOption
	events          []Event
	eventSlots      []int
	conversation    *Conversation
	callerL, agentL *LegAnalyser
}

func (s *scene) play(t *testing.T) ConversationSummary {
	t.Helper()
	per := frames(s.unit)
	s.callerL = NewLeg()
	if s.agent != "" {
		s.agentL = NewLeg()
	}
	s.conversation = NewConversation(s.callerL, s.agentL, s.opts...)
	talk := speechLike(FrameSamples * per * len(s.caller))
	quiet := silence(FrameSamples)
	slot := 0
	for u := range len(s.caller) {
		for f := range per {
			feedSlot(s.callerL, s.caller[u], talk[(slot)*FrameSamples:(slot+1)*FrameSamples], quiet)
			if s.agentL != nil {
				feedSlot(s.agentL, at(s.agent, u), talk[(slot)*FrameSamples:(slot+1)*FrameSamples], quiet)
			}
			s.conversation.SetHold(at(s.hold, u) == 'H')
			s.conversation.SetPlaying(at(s.playing, u) == 'P')
			if ev := s.conversation.Tick(); ev != NoEvent {
				s.events = append(s.events, ev)
				s.eventSlots = append(s.eventSlots, slot)
			}
			_ = f
			slot++
		}
	}
	return s.conversation.Summary()
}

// speechLike is a 600 Hz tone at -20 dBFS peak whose amplitude swings 20 dB
// four times a second, like syllables: a steady tone longer than the noise
// floor's 3 s window would rightly be taken for line noise.
func speechLike(n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		ph := float64(i) / SampleRate
		env := 0.1 + 0.9*(0.5+0.5*math.Cos(2*math.Pi*4*ph))
		out[i] = clip(3277 * env * math.Sin(2*math.Pi*600*ph))
	}
	return out
}

func feedSlot(l *LegAnalyser, c byte, talk, quiet []int16) {
	switch c {
	case 'T':
		l.Frame(talk)
	case 'm':
		l.Silence(1)
	default:
		l.Frame(quiet)
	}
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return '.'
}

func repeat(c string, n int) string {
	out := ""
	for range n {
		out += c
	}
	return out
}

// Half a second per character in these scenes.
const half = 500 * time.Millisecond

// slack allows for the band-pass filter's ringing after an abrupt stop of
// the test tone (one frame per stop).
const slack = 2 * FrameDuration

// longSlack allows, on talk longer than the noise floor's window, for the
// quietest part of the last amplitude swing falling under the threshold.
const longSlack = 150 * time.Millisecond

func TestOvertalkIsBothTalkingAtOnce(t *testing.T) {
	s := scene{unit: half,
		caller: "..TTTTTT..........",
		agent:  "......TTTTTT......"}
	sum := s.play(t)
	if !near(sum.Overtalk, time.Second, slack) {
		t.Errorf("overtalk %v, want 1s", sum.Overtalk)
	}
	if !near(sum.CallerTalk, 3*time.Second, slack) || !near(sum.AgentTalk, 3*time.Second, slack) {
		t.Errorf("talk caller %v agent %v, want 3s each", sum.CallerTalk, sum.AgentTalk)
	}
	if sum.TalkRatio < 0.49 || sum.TalkRatio > 0.51 {
		t.Errorf("talk ratio %.3f, want 0.5", sum.TalkRatio)
	}
	if !near(sum.DeadAir, 4*time.Second, slack) {
		t.Errorf("dead air %v, want the 1 s before and the 3 s after", sum.DeadAir)
	}
	if sum.Duration != 9*time.Second {
		t.Errorf("duration %v, want 9s", sum.Duration)
	}
}

func TestTurnTakingWithoutOverlapIsNotOvertalk(t *testing.T) {
	// The agent answers 100 ms after the caller stops: the live states
	// overlap by the caller's hangover, the settled talk does not.
	s := scene{unit: 100 * time.Millisecond,
		caller: repeat("T", 20) + repeat(".", 31),
		agent:  repeat(".", 21) + repeat("T", 20) + repeat(".", 10)}
	if sum := s.play(t); sum.Overtalk != 0 {
		t.Fatalf("overtalk %v on clean turn-taking", sum.Overtalk)
	}
}

func TestDeadAirAlertFiresAtTheThresholdAndEndsWithTalk(t *testing.T) {
	// Caller talks 2 s, both silent 10 s, agent talks 2 s.
	s := scene{unit: half,
		caller: "..TTTT" + repeat(".", 24),
		agent:  "......" + repeat(".", 20) + "TTTT"}
	sum := s.play(t)
	if len(s.events) != 2 || s.events[0] != DeadAirStarted || s.events[1] != DeadAirEnded {
		t.Fatalf("events %v, want [dead_air_started dead_air_ended]", s.events)
	}
	// Talk stops at slot 150 (plus a ringing frame); 8 s later is slot 550.
	if got := s.eventSlots[0]; got < 549 || got > 552 {
		t.Errorf("dead air alert at slot %d, want 8 s after talk stopped (slot 550)", got)
	}
	// The agent starts at slot 650; the end is known once the onset is confirmed.
	if got := s.eventSlots[1]; got < 650 || got > 653 {
		t.Errorf("dead air end at slot %d, want the agent's onset (slot 650-652)", got)
	}
	if !near(sum.LongestDeadAir, 10*time.Second, slack) || !near(sum.DeadAir, 11*time.Second, slack) {
		t.Errorf("dead air %v, longest %v, want 11s (1 s before the caller) and 10s", sum.DeadAir, sum.LongestDeadAir)
	}
	if sum.DeadAirEvents != 1 {
		t.Errorf("dead-air events %d, want 1", sum.DeadAirEvents)
	}
	if got := s.conversation.DeadAir(); got != 0 {
		t.Errorf("live dead air %v while the agent talks", got)
	}
}

func TestHoldIsNotDeadAir(t *testing.T) {
	s := scene{unit: half,
		caller: "..TTTT" + repeat(".", 24),
		agent:  "......" + repeat(".", 20) + "TTTT",
		hold:   "........" + repeat("H", 14)}
	sum := s.play(t)
	if len(s.events) != 0 || sum.DeadAirEvents != 0 {
		t.Fatalf("events %v / %d during a call put on hold", s.events, sum.DeadAirEvents)
	}
	if sum.Held != 7*time.Second {
		t.Errorf("held %v, want 7s", sum.Held)
	}
	// 1 s before the caller talks, 1 s before the hold, 2 s after it.
	if !near(sum.DeadAir, 4*time.Second, slack) || !near(sum.LongestDeadAir, 2*time.Second, slack) {
		t.Errorf("dead air %v, longest %v, want 4s and 2s", sum.DeadAir, sum.LongestDeadAir)
	}
}

func TestPromptPlayingIsNotDeadAirOnAnIVRCall(t *testing.T) {
	// IVR-only: the caller listens to a 10 s prompt, then says nothing for
	// 9 s, then talks.
	s := scene{unit: half,
		caller:  repeat(".", 20) + repeat(".", 18) + "TTTT",
		playing: repeat("P", 20)}
	sum := s.play(t)
	if len(s.events) != 2 || s.events[0] != DeadAirStarted {
		t.Fatalf("events %v, want the 9 s silence after the prompt alerted", s.events)
	}
	if got := s.eventSlots[0]; got < 899 || got > 901 {
		t.Errorf("alert at slot %d, want 8 s after the prompt ended (slot 900)", got)
	}
	if !near(sum.LongestDeadAir, 9*time.Second, slack) {
		t.Errorf("longest dead air %v, want 9s", sum.LongestDeadAir)
	}
	if sum.TalkRatio != 0 || sum.Agent != (LegSummary{}) || sum.LongestNoAck != 0 {
		t.Errorf("IVR-only call has agent figures: %+v", sum)
	}
}

func TestMissingFramesOnBothLegsAreDeadAir(t *testing.T) {
	// Silence suppression on both sides: no packets is still dead air.
	s := scene{unit: half,
		caller: "..TT" + repeat("m", 20) + "TT",
		agent:  "....mmmmmmmmmmmmmmmmmmmm.."}
	sum := s.play(t)
	if sum.DeadAirEvents != 1 || !near(sum.LongestDeadAir, 10*time.Second, slack) {
		t.Fatalf("missing frames: %d events, longest %v, want 1 and 10s", sum.DeadAirEvents, sum.LongestDeadAir)
	}
}

func TestConversationWithShortPausesRaisesNoDeadAir(t *testing.T) {
	// A minute of lively turn-taking with gaps of up to 2 s.
	caller, agent := "", ""
	caller, agent = "..", ".."
	for range 6 {
		caller += "TTTTTTTT" + "...." + "........" + ".."
		agent += "........" + "...." + "TTTTTTTT" + ".."
	}
	s := scene{unit: half, caller: caller, agent: agent}
	sum := s.play(t)
	if len(s.events) != 0 || sum.DeadAirEvents != 0 {
		t.Fatalf("dead-air events %v on a lively conversation", s.events)
	}
	if !near(sum.LongestDeadAir, 2*time.Second, longSlack) {
		t.Errorf("longest dead air %v, want 2s", sum.LongestDeadAir)
	}
}

func TestAgentSilenceWhileTheCallerTalksAtLength(t *testing.T) {
	// The caller talks 20 s in sentences of 3.5 s with 0.5 s pauses; the
	// agent says "嗯" once, 8 s in. The caller's last word is at 19.5 s.
	s := scene{unit: half,
		caller: repeat("TTTTTTT.", 5),
		agent:  repeat(".", 16) + "T" + repeat(".", 23)}
	sum := s.play(t)
	if !near(sum.LongestNoAck, 11*time.Second, longSlack) {
		t.Fatalf("longest no-acknowledgement %v, want 11s (from the agent's 嗯 to the caller's last word)", sum.LongestNoAck)
	}
}

func TestCallerPauseLongerThanTurnGapStartsANewTurn(t *testing.T) {
	// Caller talks 5 s, stops for 3 s (the turn is over), talks 4 s more.
	s := scene{unit: half,
		caller: ".." + repeat("T", 10) + repeat(".", 6) + repeat("T", 8) + "..",
		agent:  repeat(".", 28)}
	if sum := s.play(t); !near(sum.LongestNoAck, 5*time.Second, longSlack) {
		t.Fatalf("longest no-acknowledgement %v, want 5s", sum.LongestNoAck)
	}
}

func TestDeadAirThresholdIsConfigurable(t *testing.T) {
	s := scene{unit: half,
		caller: "..TT......TT......TT",
		opts:   []ConvOption{WithDeadAirThreshold(2 * time.Second)}}
	sum := s.play(t)
	if sum.DeadAirEvents != 2 {
		t.Fatalf("events %d with a 2 s threshold and two 3 s silences, want 2 (and %v)", sum.DeadAirEvents, s.events)
	}
	if len(s.events) != 4 {
		t.Fatalf("live events %v, want started/ended twice", s.events)
	}
}

func TestConversationConstructorsRefuseBadInput(t *testing.T) {
	if _, err := NewConversationChecked(nil, NewLeg()); !errors.Is(err, ErrNoCaller) {
		t.Errorf("nil caller: err = %v, want ErrNoCaller", err)
	}
	for i, o := range []ConvOption{WithDeadAirThreshold(0), WithTurnGap(0), WithTurnGap(time.Hour)} {
		if _, err := NewConversationChecked(NewLeg(), nil, o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("option %d: err = %v, want ErrInvalidOption", i, err)
		}
		if c := NewConversation(NewLeg(), nil, o); c.cfg != defaultConvConfig() {
			t.Errorf("option %d changed the config: %+v", i, c.cfg)
		}
	}
	// NewConversation never fails: a nil caller is a leg that never talks.
	c := NewConversation(nil, nil)
	for range 500 {
		c.Tick()
	}
	if s := c.Summary(); s.DeadAirEvents != 1 || s.CallerTalk != 0 {
		t.Errorf("nil-caller conversation: %+v", s)
	}
}

func TestEventNames(t *testing.T) {
	for e, want := range map[Event]string{NoEvent: "none", DeadAirStarted: "dead_air_started", DeadAirEnded: "dead_air_ended", 9: "event(9)"} {
		if e.String() != want {
			t.Errorf("%d.String() = %q, want %q", e, e.String(), want)
		}
	}
}
