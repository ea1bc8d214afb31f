//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// frameInterval is the RTP packetisation time every endpoint sends at.
	frameInterval = 20 * time.Millisecond
	// framesPerSecond is what one endpoint sends, and hotline's pacer
	// sends each leg, every second.
	framesPerSecond = int(time.Second / frameInterval)
	// senderTick is how often a sender loop wakes: every frame due by then
	// is sent, so a frame is up to one tick late by design (as in
	// hotline's own pacer).
	senderTick = 10 * time.Millisecond
	// maxBehind: an endpoint more than this behind its schedule (the
	// generator was starved of CPU) skips ahead instead of bursting.
	maxBehind = 100 * time.Millisecond
	// batch is the number of packets per sendmmsg / recvmmsg call.
	batch = 64
	// rtpHeaderLen is the fixed RTP header without CSRCs (RFC 3550 §5.1).
	rtpHeaderLen = 12
	// firstOctet is where endpoint addresses start: 127.16.0.0 (the
	// endpoint's index is in the low 24 bits plus the second octet), clear
	// of 127.0.0.1 where hotline and the SIP socket live.
	firstOctet = 16
)

// endpointAddr is the source address of endpoint i (a caller or an agent):
// every phone has its own IP on 127.0.0.0/8, so hotline can tell them apart
// by source address whatever its RTP transport.
func endpointAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(firstOctet + i>>16), byte(i >> 8), byte(i)})
}

// endpointIndex is the inverse of endpointAddr, or -1.
func endpointIndex(ip [4]byte) int {
	if ip[0] != 127 || ip[1] < firstOctet {
		return -1
	}
	return int(ip[1]-firstOctet)<<16 | int(ip[2])<<8 | int(ip[3])
}

// maxEndpoints is how many addresses endpointAddr can give out.
const maxEndpoints = (255 - firstOctet) << 16

// endpoint is the media state of one caller or agent. The signalling loop
// starts and stops it through the atomics; the rest belongs to its socket's
// sender loop (tx side) or reader (rx side).
type endpoint struct {
	// remote is where to send: 1<<48 | IPv4<<16 | port, 0 = silent.
	remote atomic.Uint64
	// firstRx is the engine time (ns) of the first RTP packet received, 0
	// until then.
	firstRx   atomic.Int64
	rxPackets atomic.Uint64
	txPackets atomic.Uint64

	// Sender-owned.
	active  bool
	nextDue int64
	seq     uint16
	ts      uint32
	ssrc    uint32
	pos     int
	marker  bool
	cmsg    [4]uint64 // IP_PKTINFO control message choosing the source address

	// Reader-owned: loss by SSRC (RFC 3550 appendix A.1, simplified).
	rxSSRC  uint32
	rxHave  bool
	rxBase  uint32 // extended sequence number of the segment's first packet
	rxMax   uint32 // highest extended sequence number seen
	rxSeg   uint64 // packets received in this SSRC segment
	rxLost  int64  // packets lost in closed segments
	rxSSRCs uint32 // number of SSRCs seen
	rxTS    uint32 // timestamp of the newest packet of the segment
	// rxTSGap counts 20 ms frames missing by timestamp: a sender that
	// skips frames but numbers the rest without a gap (hotline's pacer
	// when it falls behind) shows up here, not as loss.
	rxTSGap int64
	rxOther uint64 // packets that are not PCMU/PCMA/telephone-event RTP
}

// lost returns the packets lost over all SSRC segments. Call it only after
// the readers have stopped.
func (ep *endpoint) lost() int64 {
	l := ep.rxLost
	if ep.rxHave {
		if d := int64(ep.rxMax-ep.rxBase+1) - int64(ep.rxSeg); d > 0 {
			l += d
		}
	}
	return l
}

// mediaSocket is one UDP socket on 0.0.0.0 shared by many endpoints. Its
// descriptor is outside the Go runtime's poller: the sender loops read it
// at their ticks and never wait on it, and in the poller every burst
// hotline sent would wake an idle thread for nothing.
type mediaSocket struct {
	fd   uintptr
	port uint16
}

// mediaEngine sends and receives every endpoint's RTP.
type mediaEngine struct {
	socks   []*mediaSocket
	eps     []endpoint
	clip    []byte
	base    time.Time
	senders int

	stop    chan struct{}
	sending sync.WaitGroup // sender loops: they use raw fds, so they end before the sockets close

	sendErrors atomic.Uint64
	skipped    atomic.Uint64
	stray      atomic.Uint64 // packets to an address that is no endpoint
}

// newMediaEngine opens sockets for n endpoints. clip is the µ-law audio
// every endpoint loops, each from its own offset.
func newMediaEngine(n, sockets, senders int, clip []byte) (*mediaEngine, error) {
	if n > maxEndpoints {
		return nil, fmt.Errorf("%w: %d endpoints, at most %d", errUsage, n, maxEndpoints)
	}
	e := &mediaEngine{eps: make([]endpoint, n), clip: padFrames(clip), base: time.Now(), senders: max(1, senders), stop: make(chan struct{})}
	for range max(1, sockets) {
		s, err := openMediaSocket()
		if err != nil {
			e.close()
			return nil, err
		}
		e.socks = append(e.socks, s)
	}
	frames := len(e.clip) / frameBytes
	for i := range e.eps {
		ep := &e.eps[i]
		ep.ssrc = 0x10000000 + uint32(i)*2654435761
		ep.seq = uint16(i * 7919)
		ep.ts = uint32(i) * 104729
		ep.pos = (i * 37 % frames) * frameBytes
		ep.marker = true
		ip := endpointAddr(i).As4()
		c := (*[unix.SizeofCmsghdr + unix.SizeofInet4Pktinfo]byte)(unsafe.Pointer(&ep.cmsg))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&c[unix.CmsgLen(0)]))
		pi.Spec_dst = ip
	}
	return e, nil
}

func openMediaSocket() (*mediaSocket, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return nil, fmt.Errorf("media socket: %w", err)
	}
	defer conn.Close() // takes conn's descriptor out of the poller; the duplicate lives on
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("media socket: %w", err)
	}
	s := &mediaSocket{port: uint16(conn.LocalAddr().(*net.UDPAddr).Port)}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		// Big buffers: a reader briefly descheduled must not lose packets.
		// The FORCE variants pass rmem_max when running as root.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		}
		if serr == nil {
			var dup int
			dup, serr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
			s.fd = uintptr(dup)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, fmt.Errorf("media socket options: %w", err)
	}
	if err := unix.SetNonblock(int(s.fd), true); err != nil {
		_ = unix.Close(int(s.fd))
		return nil, fmt.Errorf("media socket: %w", err)
	}
	return s, nil
}

// addr is where endpoint i receives: its own IP, its socket's port.
func (e *mediaEngine) addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(endpointAddr(i), e.socks[i%len(e.socks)].port)
}

// now is the engine clock in nanoseconds.
func (e *mediaEngine) now() int64 { return int64(time.Since(e.base)) }

// startMedia makes endpoint i send to dst every 20 ms (or changes where).
func (e *mediaEngine) startMedia(i int, dst netip.AddrPort) {
	ip := dst.Addr().As4()
	e.eps[i].remote.Store(1<<48 | uint64(binary.BigEndian.Uint32(ip[:]))<<16 | uint64(dst.Port()))
}

// stopMedia silences endpoint i.
func (e *mediaEngine) stopMedia(i int) { e.eps[i].remote.Store(0) }

// run starts the sender loops and one reader per socket.
func (e *mediaEngine) run() {
	for g := range e.senders {
		e.sending.Add(1)
		go func() { defer e.sending.Done(); e.sendLoop(g) }()
	}
}

// close stops the loops and closes the sockets.
func (e *mediaEngine) close() {
	select {
	case <-e.stop:
		return
	default:
	}
	close(e.stop)
	e.sending.Wait()
	for _, s := range e.socks {
		_ = unix.Close(int(s.fd))
	}
}

// sendBatch is a sender loop's preallocated sendmmsg state.
type sendBatch struct {
	hdrs  [batch]unix.Mmsghdr
	iov   [batch][2]unix.Iovec
	names [batch]unix.RawSockaddrInet4
	rtp   [batch][rtpHeaderLen]byte
	who   [batch]*endpoint
	n     int
}

// sendLoop reads its sockets and sends every due frame of their
// endpoints, in sendmmsg batches, every senderTick.
func (e *mediaEngine) sendLoop(g int) {
	b := newSendBatch()
	rb := newRecvBatch()
	next := time.Now()
	for {
		select {
		case <-e.stop:
			return
		default:
		}
		now := e.now()
		for k := g; k < len(e.socks); k += e.senders {
			s := e.socks[k]
			e.drain(s, rb, now)
			for i := k; i < len(e.eps); i += len(e.socks) {
				ep := &e.eps[i]
				r := ep.remote.Load()
				if r == 0 {
					ep.active = false
					continue
				}
				if !ep.active {
					ep.active, ep.nextDue, ep.marker = true, now, true
				}
				if behind := now - ep.nextDue; behind > int64(maxBehind) {
					n := behind / int64(frameInterval)
					e.skipped.Add(uint64(n))
					ep.nextDue += n * int64(frameInterval)
					ep.seq += uint16(n) // skipped frames look like loss to the receiver, as they are
					ep.ts += uint32(n) * frameBytes
				}
				for ep.nextDue <= now {
					e.fill(b, ep, r)
					if b.n == batch {
						e.flush(s, b)
					}
				}
			}
			e.flush(s, b)
		}
		next = next.Add(senderTick)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		} else {
			next = time.Now()
		}
	}
}

// newSendBatch points every message at its own name, header and iovecs
// once; fill then only writes the values.
func newSendBatch() *sendBatch {
	b := new(sendBatch)
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		b.hdrs[i].Hdr.Iov = &b.iov[i][0]
		b.hdrs[i].Hdr.SetIovlen(2)
		b.iov[i][0].Base = &b.rtp[i][0]
		b.iov[i][0].SetLen(rtpHeaderLen)
		b.iov[i][1].SetLen(frameBytes)
		b.hdrs[i].Hdr.SetControllen(unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	}
	return b
}

// fill puts the endpoint's next frame into the batch.
func (e *mediaEngine) fill(b *sendBatch, ep *endpoint, remote uint64) {
	i := b.n
	h := &b.rtp[i]
	h[0] = 0x80
	h[1] = 0 // PCMU
	if ep.marker {
		h[1] |= 0x80 // RFC 3551 §4.1: marker on the first packet of a talkspurt
		ep.marker = false
	}
	binary.BigEndian.PutUint16(h[2:], ep.seq)
	binary.BigEndian.PutUint32(h[4:], ep.ts)
	binary.BigEndian.PutUint32(h[8:], ep.ssrc)
	b.iov[i][1].Base = &e.clip[ep.pos]
	n := &b.names[i]
	n.Family = unix.AF_INET
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&n.Port))[:], uint16(remote))
	binary.BigEndian.PutUint32(n.Addr[:], uint32(remote>>16))
	b.hdrs[i].Hdr.Control = (*byte)(unsafe.Pointer(&ep.cmsg))
	b.who[i] = ep
	b.n++
	ep.seq++
	ep.ts += frameBytes
	ep.pos += frameBytes
	if ep.pos+frameBytes > len(e.clip) {
		ep.pos = 0
	}
	ep.nextDue += int64(frameInterval)
}

// flush sends the batch with as few sendmmsg calls as the kernel allows.
func (e *mediaEngine) flush(s *mediaSocket, b *sendBatch) {
	off, tries := 0, 0
	for off < b.n {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, s.fd, uintptr(unsafe.Pointer(&b.hdrs[off])), uintptr(b.n-off), 0, 0, 0)
		switch {
		case errno == unix.EAGAIN || errno == unix.ENOBUFS:
			// The socket's send buffer is full: give the kernel a moment,
			// then drop the rest rather than fall further behind.
			if tries++; tries > 3 {
				e.sendErrors.Add(uint64(b.n - off))
				off = b.n
				continue
			}
			time.Sleep(200 * time.Microsecond)
		case errno == unix.EBADF:
			off = b.n // closed at shutdown
		case errno != 0:
			// The first message failed: count it and carry on after it.
			e.sendErrors.Add(1)
			off++
		default:
			for j := off; j < off+int(r); j++ {
				b.who[j].txPackets.Add(1)
			}
			off += int(r)
		}
	}
	b.n = 0
}

// recvBatch is a sender loop's preallocated recvmmsg state.
type recvBatch struct {
	hdrs [batch]unix.Mmsghdr
	iov  [batch]unix.Iovec
	bufs [batch][recvBufSize]byte
	ctl  [batch][8]uint64
}

const recvBufSize = 1500

func newRecvBatch() *recvBatch {
	r := new(recvBatch)
	for i := range r.hdrs {
		r.iov[i].Base = &r.bufs[i][0]
		r.iov[i].SetLen(recvBufSize)
		r.hdrs[i].Hdr.Iov = &r.iov[i]
		r.hdrs[i].Hdr.SetIovlen(1)
		r.hdrs[i].Hdr.Control = (*byte)(unsafe.Pointer(&r.ctl[i]))
	}
	return r
}

// drain reads what is queued on the socket, without waiting, and counts
// every packet against the endpoint its destination address names. The
// sender loop that owns the socket calls it each tick: a reader goroutine
// per socket woken for every burst hotline sends cost the generator more
// than its sending (epoll and scheduler wakeups), and every CPU the
// generator takes is one hotline cannot have. Arrival is stamped at the
// tick, so first-audio times are up to senderTick late.
func (e *mediaEngine) drain(s *mediaSocket, r *recvBatch, now int64) {
	for {
		for i := range r.hdrs {
			r.hdrs[i].Hdr.SetControllen(len(r.ctl[i]) * 8)
			r.hdrs[i].Hdr.Flags = 0
		}
		got, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, s.fd, uintptr(unsafe.Pointer(&r.hdrs[0])), batch, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.EBADF:
			return // empty, or closed at shutdown
		default:
			continue // a queued ICMP error, reported once
		}
		n := int(got)
		for i := range n {
			ctlb := (*[64]byte)(unsafe.Pointer(&r.ctl[i]))[:r.hdrs[i].Hdr.Controllen]
			dst, ok := pktinfoDst(ctlb)
			idx := endpointIndex(dst)
			if !ok || idx < 0 || idx >= len(e.eps) {
				e.stray.Add(1)
				continue
			}
			e.eps[idx].count(r.bufs[i][:r.hdrs[i].Len], now)
		}
		if n < batch {
			return
		}
	}
}

// pktinfoDst finds the IP_PKTINFO control message and returns the packet's
// destination address (ipi_addr).
func pktinfoDst(c []byte) ([4]byte, bool) {
	hdr := unix.SizeofCmsghdr
	for len(c) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
		l := int(h.Len)
		if l < hdr || l > len(c) {
			break
		}
		if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet4Pktinfo) {
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&c[unix.CmsgLen(0)]))
			return pi.Addr, true
		}
		sp := unix.CmsgSpace(l - unix.CmsgLen(0))
		if sp > len(c) {
			break
		}
		c = c[sp:]
	}
	return [4]byte{}, false
}

// count records one received packet: totals, the first arrival, and the
// sequence numbers of its SSRC for loss.
func (ep *endpoint) count(p []byte, now int64) {
	if len(p) < rtpHeaderLen || p[0]>>6 != 2 {
		ep.rxOther++
		return
	}
	switch p[1] & 0x7f {
	case 0, 8, 101:
	default:
		ep.rxOther++ // RTCP (200-204 with the marker bit) or something else
		return
	}
	ep.rxPackets.Add(1)
	if ep.firstRx.Load() == 0 {
		ep.firstRx.Store(now)
	}
	seq := uint32(binary.BigEndian.Uint16(p[2:]))
	ts := binary.BigEndian.Uint32(p[4:])
	ssrc := binary.BigEndian.Uint32(p[8:])
	if !ep.rxHave || ssrc != ep.rxSSRC {
		if ep.rxHave {
			if d := int64(ep.rxMax-ep.rxBase+1) - int64(ep.rxSeg); d > 0 {
				ep.rxLost += d
			}
		}
		ep.rxHave, ep.rxSSRC, ep.rxBase, ep.rxMax, ep.rxSeg, ep.rxTS = true, ssrc, seq, seq, 1, ts
		ep.rxSSRCs++
		return
	}
	ep.rxSeg++
	// Extend the 16-bit sequence number around the highest one seen.
	delta := int16(uint16(seq) - uint16(ep.rxMax))
	if delta > 0 {
		ep.rxMax += uint32(delta)
		// Only PCMU/PCMA frames advance by 160 a packet; telephone-event
		// packets repeat their timestamp.
		if d := int32(ts - ep.rxTS); d > 0 {
			if gap := int64(d)/frameBytes - int64(delta); gap > 0 && p[1]&0x7f != 101 {
				ep.rxTSGap += gap
			}
			ep.rxTS = ts
		}
	}
}
