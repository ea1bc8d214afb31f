package media

import (
	"fmt"
	"strings"
)

// Transport is how an Engine maps call legs onto UDP sockets.
type Transport int

const (
	// TransportPortPerCall gives every session its own even port and
	// socket, with one receive goroutine blocked in a read and one
	// sendto(2) per packet. It is the conventional layout: nothing but the
	// port tells two calls apart, so any source may reach a leg first.
	TransportPortPerCall Transport = iota
	// TransportShared binds one socket per pacer shard and puts many
	// sessions on it: the pacer writes each tick's packets with
	// sendmmsg(2) batches and one goroutine per socket reads with
	// recvmmsg(2), handing each datagram to its session by source address
	// and SSRC (see shared.go). Batches can only span calls that share a
	// socket, which is what makes the per-packet cost drop.
	TransportShared
)

// String returns "per-call" or "shared", the names ParseTransport accepts.
func (t Transport) String() string {
	switch t {
	case TransportPortPerCall:
		return "per-call"
	case TransportShared:
		return "shared"
	}
	return fmt.Sprintf("Transport(%d)", int(t))
}

// ParseTransport turns "per-call" or "shared" (case-insensitive; the empty
// string means per-call, the zero value) into a Transport.
func ParseTransport(s string) (Transport, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "per-call", "percall", "port-per-call":
		return TransportPortPerCall, nil
	case "shared":
		return TransportShared, nil
	}
	return 0, fmt.Errorf("transport %q (want per-call or shared): %w", s, ErrUnknownTransport)
}
