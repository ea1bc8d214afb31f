//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// The packet floor: what moving the RTP of n calls both ways over loopback
// costs this machine with nothing else to do. Two of the generator's media
// engines stand for the callers and for the server; every endpoint of one
// sends 50 frames a second to its twin in the other, which sends back as
// much, all in sendmmsg batches of 64 from shared sockets and read with
// recvmmsg at the sender's tick: the cheapest way to move the packets this
// project knows. No SIP, no decoding, no analysis. A call under load costs
// at least this much in the kernel alone, so it bounds from below what
// hotline and its generator can need together on one machine.

// floorResult is what runFloor measured over its window.
type floorResult struct {
	Calls         int
	Window        time.Duration
	ProcessCPU    time.Duration // this process: both engines, user + system
	MachineBusy   time.Duration // every CPU, from /proc/stat
	Packets       uint64        // received by both engines in the window
	Sent          uint64        // sent by both engines in the window
	Lost, Skipped int64         // by sequence at the receivers; frames the senders skipped
	SendErrors    uint64
}

// runFloor ramps n calls' media up over ramp, lets them run for warmup, and
// measures for window.
func runFloor(ctx context.Context, n, sockets int, clip []byte, ramp, warmup, window time.Duration, log *slog.Logger) (*floorResult, error) {
	senders := min(2, max(1, sockets/2))
	callers, err := newMediaEngine(n, sockets, senders, clip)
	if err != nil {
		return nil, err
	}
	defer callers.close()
	server, err := newMediaEngine(n, sockets, senders, clip)
	if err != nil {
		return nil, err
	}
	defer server.close()
	callers.run()
	server.run()

	// Spread the streams' phases over the ramp as calls arriving at a
	// steady rate would.
	start := time.Now()
	for i := range n {
		if err := sleepCtx(ctx, time.Until(start.Add(ramp*time.Duration(i)/time.Duration(n)))); err != nil {
			return nil, err
		}
		callers.startMedia(i, server.addr(i))
		server.startMedia(i, callers.addr(i))
	}
	log.Info("floor: all streams up", "calls", n)
	if err := sleepCtx(ctx, warmup); err != nil {
		return nil, err
	}

	engines := []*mediaEngine{callers, server}
	before, err := takeFloorCounts(engines)
	if err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, window); err != nil {
		return nil, err
	}
	after, err := takeFloorCounts(engines)
	if err != nil {
		return nil, err
	}
	res := &floorResult{
		Calls: n, Window: after.at.Sub(before.at),
		ProcessCPU: after.cpu - before.cpu, MachineBusy: after.busy - before.busy,
		Packets: after.rx - before.rx, Sent: after.tx - before.tx,
		Skipped: int64(after.skipped - before.skipped),
	}
	for i := range n {
		callers.stopMedia(i)
		server.stopMedia(i)
	}
	callers.close()
	server.close()
	for _, e := range engines {
		for i := range e.eps {
			res.Lost += e.eps[i].lost()
		}
		res.SendErrors += e.sendErrors.Load()
	}
	return res, nil
}

// floorCounts is what the floor's window is measured between: the
// packets both engines received and sent, the frames they skipped, this
// process's CPU and the machine's busy time, read at one moment.
type floorCounts struct {
	at              time.Time
	rx, tx, skipped uint64
	cpu, busy       time.Duration
}

func takeFloorCounts(engines []*mediaEngine) (floorCounts, error) {
	c := floorCounts{at: time.Now(), cpu: selfCPU()}
	for _, e := range engines {
		for i := range e.eps {
			c.rx += e.eps[i].rxPackets.Load()
			c.tx += e.eps[i].txPackets.Load()
		}
		c.skipped += e.skipped.Load()
	}
	busy, err := machineBusy()
	if err != nil {
		return floorCounts{}, fmt.Errorf("floor: %w", err)
	}
	c.busy = busy
	return c, nil
}

// sleepCtx waits for d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *floorResult) writeText(w io.Writer) {
	secs := r.Window.Seconds()
	perPacket := func(d time.Duration) float64 {
		if r.Packets == 0 {
			return 0
		}
		return float64(d.Microseconds()) / float64(r.Packets)
	}
	fmt.Fprintf(w, "packet floor: %d calls, RTP both ways, no other work, %.1f s window\n", r.Calls, secs)
	fmt.Fprintf(w, "  packets:        %d sent, %d received (%.0f per second; due %d)\n",
		r.Sent, r.Packets, float64(r.Packets)/secs, int64(float64(2*r.Calls*framesPerSecond)*secs))
	fmt.Fprintf(w, "  lost:           %d by sequence (whole run), %d frames skipped, %d send errors\n", r.Lost, r.Skipped, r.SendErrors)
	fmt.Fprintf(w, "  process CPU:    %.2f cores, %.2f µs per packet (send and receive)\n", r.ProcessCPU.Seconds()/secs, perPacket(r.ProcessCPU))
	fmt.Fprintf(w, "  machine busy:   %.2f cores, %.2f µs per packet\n", r.MachineBusy.Seconds()/secs, perPacket(r.MachineBusy))
	fmt.Fprintf(w, "  per call-second: %.3f ms of the machine for both ends' packets\n",
		r.MachineBusy.Seconds()*1000/(float64(r.Calls)*secs))
}

// floor runs -floor: the packet floor of o.floor calls.
func floor(ctx context.Context, o options, log *slog.Logger) error {
	if o.cps <= 0 || o.floorWindow <= 0 {
		return fmt.Errorf("%w: -floor needs -cps and -window above 0", errUsage)
	}
	if _, err := raiseFileLimit(); err != nil {
		return err
	}
	clip, _, err := loadAudio(o.audio)
	if err != nil {
		return err
	}
	ramp := time.Duration(float64(o.floor) / o.cps * float64(time.Second))
	r, err := runFloor(ctx, o.floor, o.sockets, clip, ramp, 3*time.Second, o.floorWindow, log)
	if err != nil {
		return err
	}
	r.writeText(os.Stdout)
	return nil
}
