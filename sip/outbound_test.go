package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// phone is a second Server standing in for an agent's softphone.
func phone(t *testing.T, onInvite func(*InboundCall)) (netip.AddrPort, *Server) {
	t.Helper()
	return serving(t, Config{OnInvite: onInvite})
}

// serving runs a Server with cfg on a loopback port until the test ends.
func serving(t *testing.T, cfg Config) (netip.AddrPort, *Server) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, pc, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort(), s
}

func hotlineServer(t *testing.T) *Server {
	t.Helper()
	addr, s := phone(t, func(c *InboundCall) { c.Reject(403, "Forbidden"); c.Release() })
	_ = addr
	return s
}

func dialPhone(t *testing.T, h *Server, addr netip.AddrPort) *OutboundCall {
	t.Helper()
	o, err := h.Dial(context.Background(), DialRequest{
		Target: "sip:1001@" + addr.String(), User: "1001", Transport: "UDP",
		FromUser: "13800138000", FromName: "support", LocalIP: netip.MustParseAddr("127.0.0.1"), MediaPort: 30000,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Release)
	return o
}

func TestDialAgentAnswersThenHangsUp(t *testing.T) {
	answered := make(chan *InboundCall, 1)
	addr, _ := phone(t, func(c *InboundCall) {
		c.Ring()
		if err := c.Answer(context.Background(), 31000); err != nil {
			t.Errorf("phone answer: %v", err)
		}
		answered <- c
	})
	h := hotlineServer(t)
	o := dialPhone(t, h, addr)
	var progress []int
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.WaitAnswer(ctx, func(s int) { progress = append(progress, s) }); err != nil {
		t.Fatalf("WaitAnswer: %v", err)
	}
	if o.Answer.Remote.Port() != 31000 || o.Answer.PayloadType != PayloadPCMU || o.Answer.DTMFPayloadType != 101 {
		t.Fatalf("agent answer %+v", o.Answer)
	}
	phoneLeg := <-answered
	if phoneLeg.Offer.Remote.Port() != 30000 {
		t.Fatalf("the phone saw hotline's media port %d, want 30000", phoneLeg.Offer.Remote.Port())
	}
	// The agent hangs up: hotline's leg ends with EndBye.
	if err := phoneLeg.Hangup(context.Background()); err != nil {
		t.Fatalf("phone BYE: %v", err)
	}
	select {
	case <-o.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("hotline never saw the agent's BYE")
	}
	if o.EndCause() != EndBye {
		t.Fatalf("end cause %q, want bye", o.EndCause())
	}
	_ = progress
}

func TestDialAgentDeclines(t *testing.T) {
	addr, _ := phone(t, func(c *InboundCall) { c.Ring(); c.Reject(486, "Busy Here"); c.Release() })
	o := dialPhone(t, hotlineServer(t), addr)
	err := o.WaitAnswer(context.Background(), nil)
	var de *DialError
	if !errors.As(err, &de) || de.Status != 486 {
		t.Fatalf("err %v, want DialError 486", err)
	}
}

func TestDialCancelledWhileRinging(t *testing.T) {
	ended := make(chan EndCause, 1)
	addr, _ := phone(t, func(c *InboundCall) {
		c.Ring()
		<-c.Done() // never answers
		ended <- c.EndCause()
		c.Release()
	})
	o := dialPhone(t, hotlineServer(t), addr)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := o.WaitAnswer(ctx, nil); err == nil {
		t.Fatal("answered a phone that never answers")
	}
	select {
	case c := <-ended:
		if c != EndCancel {
			t.Fatalf("phone saw %q, want a CANCEL", c)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the phone kept ringing: no CANCEL")
	}
}

func TestOnEndRunsOnceTheCallersLegEnds(t *testing.T) {
	legs := make(chan *InboundCall, 1)
	ran := make(chan EndCause, 2)
	addr, _ := phone(t, func(c *InboundCall) {
		c.OnEnd(func() { ran <- c.EndCause() })
		c.Ring()
		if err := c.Answer(context.Background(), 31000); err != nil {
			t.Errorf("answer: %v", err)
		}
		legs <- c
	})
	o := dialPhone(t, hotlineServer(t), addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.WaitAnswer(ctx, nil); err != nil {
		t.Fatalf("WaitAnswer: %v", err)
	}
	leg := <-legs
	select {
	case cause := <-ran:
		t.Fatalf("OnEnd ran (%q) while the call was up", cause)
	case <-time.After(100 * time.Millisecond):
	}
	if err := o.Hangup(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	select {
	case cause := <-ran:
		if cause != EndBye {
			t.Errorf("OnEnd saw end cause %q, want bye", cause)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("OnEnd never ran after the BYE")
	}
	// Registered after the end, it runs at once.
	leg.OnEnd(func() { ran <- leg.EndCause() })
	select {
	case <-ran:
	case <-time.After(3 * time.Second):
		t.Fatal("OnEnd registered after the end never ran")
	}
	leg.Release()
}
