package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// portPool hands out the even ports of [min, max]. RTP takes the even port
// and RTCP the odd one above it (RFC 3550 §11); RTCP is not sent yet, but
// handing out only even ports keeps each odd neighbour free for it.
//
// The cursor moves round the range instead of reusing the lowest free port,
// so a port just released is the last one handed out again: late packets of
// an ended call do not land in the next call on the same port.
type portPool struct {
	mu     sync.Mutex
	first  int    // lowest even port
	inUse  []bool // index i is port first+2i
	free   int
	cursor int
}

func newPortPool(lo, hi int) (*portPool, error) {
	if lo < 1 || hi > 65535 || lo > hi {
		return nil, fmt.Errorf("media: RTP port range %d-%d is not within 1-65535", lo, hi)
	}
	first := lo + lo%2
	if first > hi {
		return nil, fmt.Errorf("media: RTP port range %d-%d holds no even port", lo, hi)
	}
	n := (hi-first)/2 + 1
	return &portPool{first: first, inUse: make([]bool, n), free: n}, nil
}

// bind reserves a free even port and binds a UDP socket to it. A port
// someone else holds is skipped (and left free: that owner may let it go);
// ErrNoPorts comes back once every free port has been tried.
func (p *portPool) bind(ip netip.Addr) (*net.UDPConn, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var lastErr error
	tried := 0
	for tried < p.free {
		i := p.nextFree()
		tried++
		port := p.first + 2*i
		conn, err := listenUDP(netip.AddrPortFrom(ip, uint16(port)))
		if err != nil {
			lastErr = err
			continue
		}
		p.inUse[i] = true
		p.free--
		return conn, port, nil
	}
	if lastErr != nil {
		return nil, 0, fmt.Errorf("%w (last bind error: %w)", ErrNoPorts, lastErr)
	}
	return nil, 0, ErrNoPorts
}

// nextFree returns the index of the next free port after the cursor and
// moves the cursor past it. The caller holds p.mu and knows one is free.
func (p *portPool) nextFree() int {
	for {
		i := p.cursor
		p.cursor++
		if p.cursor == len(p.inUse) {
			p.cursor = 0
		}
		if !p.inUse[i] {
			return i
		}
	}
}

// release returns a port to the pool; releasing a free or foreign port is a
// no-op so a double Close cannot corrupt the count.
func (p *portPool) release(port int) {
	i := (port - p.first) / 2
	if port < p.first || (port-p.first)%2 != 0 || i >= len(p.inUse) {
		return
	}
	p.mu.Lock()
	if p.inUse[i] {
		p.inUse[i] = false
		p.free++
	}
	p.mu.Unlock()
}

// listenUDP binds an IPv4 socket for an IPv4 address and an IPv6 one
// otherwise, so source addresses come back unmapped and sends to the SDP
// address need no conversion.
func listenUDP(ap netip.AddrPort) (*net.UDPConn, error) {
	network := "udp6"
	if ap.Addr().Is4() || ap.Addr().Is4In6() {
		network = "udp4"
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("media: bind %s: %w", ap, err)
	}
	return conn, nil
}
