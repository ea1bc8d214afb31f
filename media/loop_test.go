package media

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

func TestLoopRepeatsClipsBackToBackWithoutSilence(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		tests := []struct {
			name  string
			clips [][]byte
		}{
			{"a clip of whole frames", [][]byte{clipOf(3, 1)}},
			{"a clip ending mid-frame runs on into its next repetition", [][]byte{clipOf(3, 1)[:2*FrameSize+70]}},
			{"two clips joined byte to byte, empty ones skipped", [][]byte{clipOf(1, 1)[:100], nil, clipOf(2, 40)[:250]}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := newTestEngine(t, tr, nil)
				s, p := sendingToPeer(t, e)

				cause := errors.New("agent answered")
				ctx, cancel := context.WithCancelCause(context.Background())
				loopErr := make(chan error, 1)
				go func() { loopErr <- s.Loop(ctx, tt.clips...) }()

				// Five repetitions of the loop, from its first frame.
				period := bytes.Join(tt.clips, nil)
				want := bytes.Repeat(period, 5)
				var got []byte
				var seq []uint16
				for len(got) < len(want) {
					r, ok := p.read(time.Second)
					if !ok {
						t.Fatal("stream stopped")
					}
					if got == nil && isSilence(r.Payload, silencePCMU) {
						continue
					}
					if got == nil && !r.Marker {
						t.Error("loop starts without the marker bit")
					}
					if isSilence(r.Payload, silencePCMU) {
						t.Fatalf("silence frame after %d bytes of the loop", len(got))
					}
					got = append(got, r.Payload...)
					seq = append(seq, r.SequenceNumber)
				}
				if !bytes.Equal(got[:len(want)], want) {
					t.Fatal("the loop did not arrive as its clips repeated byte to byte")
				}
				for i := 1; i < len(seq); i++ {
					if seq[i] != seq[i-1]+1 {
						t.Fatalf("sequence gap %d → %d", seq[i-1], seq[i])
					}
				}
				select {
				case err := <-loopErr:
					t.Fatalf("Loop returned %v while its context was live", err)
				default:
				}
				cancel(cause)
				select {
				case err := <-loopErr:
					if !errors.Is(err, cause) {
						t.Errorf("Loop returned %v, want the cause", err)
					}
				case <-time.After(time.Second):
					t.Fatal("Loop did not return after cancel")
				}
				p.drain()
				for range 3 {
					if r, _ := p.read(time.Second); !isSilence(r.Payload, silencePCMU) {
						t.Fatal("loop audio after Loop returned")
					}
				}
			})
		}
	})
}

func TestLoopFollowsPlayRulesForBusyEmptyAndClosed(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		s.Configure(newPeer(t).addr(), PayloadPCMU, 0)
		s.Start()
		if err := s.Loop(context.Background(), nil, []byte{}); err != nil {
			t.Errorf("Loop of nothing: %v, want nil at once", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.Loop(ctx, clipOf(2, 1)) }()
		eventually(t, time.Second, "Loop running", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.play != nil
		})
		if err := s.Play(context.Background(), clipOf(1, 1)); !errors.Is(err, ErrBusy) {
			t.Errorf("Play during Loop: %v, want ErrBusy", err)
		}
		if err := s.Loop(context.Background(), clipOf(1, 1)); !errors.Is(err, ErrBusy) {
			t.Errorf("Loop during Loop: %v, want ErrBusy", err)
		}
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("Loop on a closing session: %v, want ErrClosed", err)
			}
		case <-time.After(time.Second):
			t.Fatal("Loop still running after Close")
		}
	})
}

// Hold music is stopped for an announcement and resumed, again and again:
// the caller never hears a silence frame between them (R3, R10).
func TestPlaybacksStartedRightAfterTheLastEndedLeaveNoGap(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s := newTestSession(t, e)
		ph := newPhone(t, PayloadPCMA, 1)
		s.Configure(ph.addr(), PayloadPCMA, 0)
		s.Start()

		music, announcement := clipOf(2, 1), clipOf(3, 120)
		for round := range 6 {
			ctx, cancel := context.WithCancel(context.Background())
			looped := make(chan error, 1)
			go func() { looped <- s.Loop(ctx, music) }()
			// Stop the music at a different point of the 20 ms slot each
			// round, so some stops fall just before a tick and some after.
			time.Sleep(100*time.Millisecond + time.Duration(round)*7*time.Millisecond)
			cancel()
			if err := <-looped; !errors.Is(err, context.Canceled) {
				t.Fatalf("Loop: %v", err)
			}
			if err := s.Play(context.Background(), announcement); err != nil {
				t.Fatalf("Play: %v", err)
			}
		}
		// The last announcement ends, then silence.
		time.Sleep(80 * time.Millisecond)
		ph.hangUp()
		pkts := ph.packets()
		start, end := -1, -1
		for i, r := range pkts {
			if !isSilence(r.Payload, silencePCMA) {
				if start < 0 {
					start = i
				}
				end = i
			}
		}
		if start < 0 {
			t.Fatal("nothing played")
		}
		for i := start; i <= end; i++ {
			if isSilence(pkts[i].Payload, silencePCMA) {
				t.Fatalf("silence frame %d frames into the music/announcement sequence", i-start)
			}
			if i > start && pkts[i].SequenceNumber != pkts[i-1].SequenceNumber+1 {
				t.Fatalf("sequence gap at frame %d", i-start)
			}
		}
	})
}

// recordingSender keeps a copy of every packet, for driving a private pacer
// by hand.
type recordingSender struct{ pkts [][]byte }

func (r *recordingSender) send(_ *net.UDPConn, pkt []byte, _ netip.AddrPort, _ int64) error {
	r.pkts = append(r.pkts, bytes.Clone(pkt))
	return nil
}
func (r *recordingSender) flush() error { return nil }

func (r *recordingSender) payloads() [][]byte {
	out := make([][]byte, len(r.pkts))
	for i, p := range r.pkts {
		out[i] = p[rtpHeaderSize:]
	}
	return out
}

// The hand-over rules, slot by slot, on a pacer driven by hand.
func TestHandOverBetweenPlaybacksFillsTheSlotAlreadyDue(t *testing.T) {
	music, next := clipOf(4, 1), clipOf(2, 120)
	frame := func(c []byte, i int) []byte { return c[i*FrameSize : (i+1)*FrameSize] }
	tests := []struct {
		name string
		// run drives the pacer; frames due at 0, 20, 40 … ms.
		run  func(t *testing.T, p *pacer, s *Session)
		want [][]byte
	}{
		{
			name: "a loop cancelled after its slot began still fills that slot",
			run: func(t *testing.T, p *pacer, s *Session) {
				pl := startPlayer(s, true, music)
				p.tick(0)                                    // music frame 0
				s.stopPlayAt(pl, int64(25*time.Millisecond)) // slot 20 ms is due, its tick has not come
				p.tick(int64(30 * time.Millisecond))
				p.tick(int64(40 * time.Millisecond))
			},
			want: [][]byte{frame(music, 0), frame(music, 1), silenceFrame(silencePCMU)},
		},
		{
			name: "a playback started before the tick takes the due slot",
			run: func(t *testing.T, p *pacer, s *Session) {
				pl := startPlayer(s, true, music)
				p.tick(0)
				s.stopPlayAt(pl, int64(25*time.Millisecond))
				startPlayer(s, false, next)
				p.tick(int64(30 * time.Millisecond))
				p.tick(int64(40 * time.Millisecond))
			},
			want: [][]byte{frame(music, 0), frame(next, 0), frame(next, 1)},
		},
		{
			name: "a loop cancelled before its next slot owes nothing",
			run: func(t *testing.T, p *pacer, s *Session) {
				pl := startPlayer(s, true, music)
				p.tick(0)
				s.stopPlayAt(pl, int64(15*time.Millisecond))
				p.tick(int64(20 * time.Millisecond))
			},
			want: [][]byte{frame(music, 0), silenceFrame(silencePCMU)},
		},
		{
			name: "catching up stops after the last frame of a Play",
			run: func(t *testing.T, p *pacer, s *Session) {
				startPlayer(s, false, next)
				p.tick(int64(50 * time.Millisecond)) // 0, 20, 40 ms due
				startPlayer(s, false, music[:FrameSize])
				p.tick(int64(60 * time.Millisecond))
			},
			want: [][]byte{frame(next, 0), frame(next, 1), frame(music, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, TransportPortPerCall, nil)
			rec := &recordingSender{}
			p := newPacer(e, rec)
			s := offlineSession(e, false)
			s.started = true
			s.nextDue, s.nextFrameDue = 0, 0
			p.join(s)
			tt.run(t, p, s)
			got := rec.payloads()
			if len(got) != len(tt.want) {
				t.Fatalf("%d frames sent, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("frame %d: % x…, want % x…", i, got[i][:4], tt.want[i][:4])
				}
			}
		})
	}
}

func silenceFrame(v byte) []byte { return bytes.Repeat([]byte{v}, FrameSize) }

// startPlayer installs a player as Play or Loop would, without blocking.
func startPlayer(s *Session, loop bool, clips ...[]byte) *player {
	pl := &player{clips: clips, loop: loop, result: make(chan error, 1), unwatch: noUnwatch}
	pl.skipEmpty()
	s.mu.Lock()
	s.play = pl
	s.mu.Unlock()
	return pl
}

// sendingToPeer is a started PCMU session sending to a new peer, which has
// heard its first two (silence) frames.
func sendingToPeer(t *testing.T, e *Engine) (*Session, *peer) {
	t.Helper()
	s := newTestSession(t, e)
	p := newPeer(t)
	s.Configure(p.addr(), PayloadPCMU, 0)
	s.Start()
	p.collect(2)
	return s, p
}

// resultWithin waits up to a second for a playback's result, which is
// due after what happened.
func resultWithin(t *testing.T, result <-chan error, after string) error {
	t.Helper()
	select {
	case err := <-result:
		return err
	case <-time.After(time.Second):
		t.Fatalf("no playback result after %s", after)
		return nil
	}
}

// noResultFor fails if a playback's result comes within d.
func noResultFor(t *testing.T, result <-chan error, d time.Duration, what string) {
	t.Helper()
	select {
	case err := <-result:
		t.Errorf("%s: %v", what, err)
	case <-time.After(d):
	}
}

// noUnwatch stands for the AfterFunc stop of a player a test installs
// without a context.
func noUnwatch() bool { return false }

// Begin starts a playback and returns at once: no goroutine waits for it,
// so a call flow can wait for the prompt's end, a key press and a timer in
// one select. The result comes once: nil after a prompt's last frame, the
// cause when the context ends a loop, ErrClosed when the session closes.
func TestBeginPlaysWithoutAGoroutineAndDeliversTheResultOnce(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		e := newTestEngine(t, tr, nil)
		s, p := sendingToPeer(t, e)

		before := runtime.NumGoroutine()
		prompt := s.Begin(context.Background(), false, clipOf(5, 1))
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("%d goroutines while a prompt plays, %d before: Begin must not start one", n, before)
		}
		heard := 0
		for heard < 5 {
			r, ok := p.read(time.Second)
			if !ok {
				t.Fatalf("heard %d prompt frames, want 5", heard)
			}
			if !isSilence(r.Payload, 0xFF) {
				heard++
			}
		}
		if err := resultWithin(t, prompt, "the prompt's last frame"); err != nil {
			t.Errorf("prompt result %v, want nil", err)
		}

		cause := errors.New("an agent answered")
		ctx, cancel := context.WithCancelCause(context.Background())
		music := s.Begin(ctx, true, clipOf(2, 3))
		noResultFor(t, music, 100*time.Millisecond, "a loop ended by itself")
		if err := <-s.Begin(context.Background(), false, clipOf(1, 1)); !errors.Is(err, ErrBusy) {
			t.Errorf("Begin during a loop: %v, want ErrBusy", err)
		}
		cancel(cause)
		if err := resultWithin(t, music, "the loop's context ended"); !errors.Is(err, cause) {
			t.Errorf("loop result %v, want the cause", err)
		}
		noResultFor(t, music, 50*time.Millisecond, "a second result")

		last := s.Begin(context.Background(), true, clipOf(2, 5))
		s.Close()
		if err := resultWithin(t, last, "Close"); !errors.Is(err, ErrClosed) {
			t.Errorf("loop on a closing session: %v, want ErrClosed", err)
		}
	})
}
