package queue

import (
	"fmt"
	"testing"
	"time"
)

// benchManager has agentsN agents all on calls and waitingN callers queued,
// the busy-hour shape in which Tick runs four times a second.
func benchManager(b *testing.B, agentsN, waitingN int) (*Manager, *fakeClock) {
	b.Helper()
	var users []string
	for i := range agentsN {
		users = append(users, fmt.Sprintf("a%04d", i))
	}
	m, clk := oneQueue(b, QueueConfig{}, agents(users...))
	login(b, m, clk, users...)
	for range agentsN {
		e := enqueue(b, m, "busy")
		o := mustOffer(b, e)
		e.Report(o.Agents[0], Answered)
		e.Leave(LeftAnswered)
	}
	for range waitingN {
		enqueue(b, m, "waiting")
	}
	return m, clk
}

func BenchmarkTickAllAgentsBusy(b *testing.B) {
	m, clk := benchManager(b, 200, 500)
	b.ReportAllocs()
	for b.Loop() {
		clk.Advance(250 * time.Millisecond)
		m.Tick()
	}
}

// BenchmarkCallerCycle is one caller's whole queue life with agents free:
// enqueue, offer, answer, leave, call end.
func BenchmarkCallerCycle(b *testing.B) {
	m, clk := benchManager(b, 50, 0)
	for _, s := range m.Agents() {
		m.CallEnded(s.User)
	}
	b.ReportAllocs()
	for b.Loop() {
		e, _ := m.Enqueue("q", "c")
		o := <-e.Offers()
		e.Report(o.Agents[0], Answered)
		e.Leave(LeftAnswered)
		clk.Advance(time.Second)
		m.CallEnded(o.Agents[0])
	}
}

func BenchmarkEstimatedWait(b *testing.B) {
	m, _ := benchManager(b, 200, 500)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.EstimatedWait("q", 250)
	}
}
