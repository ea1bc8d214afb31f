//go:build linux

package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw sendmmsg(2) and recvmmsg(2) for the shared transport. Not
// golang.org/x/net/ipv4's WriteBatch and ReadBatch: ReadBatch allocates a
// *net.UDPAddr for every datagram's source and WriteBatch wants a net.Addr
// per message, so both cost an allocation per packet on the hot path. Here
// every message header, iovec, sockaddr and buffer is allocated once, with
// the sender or receiver, and the syscalls go straight to the socket's
// descriptor (sharedConn).

// sharedConn is a shared socket's descriptor, taken out of the Go
// runtime's network poller. The shard's pacer reads the socket at each
// tick without waiting and never parks on it, so the poller could only
// cost: with the socket in the runtime's epoll set, datagrams arriving
// while the process was idle woke a thread out of epoll_wait, which found
// no goroutine waiting on the socket and went back to sleep — thousands of
// wakeups a second at a few thousand calls.
type sharedConn struct {
	// mu is read-held across every syscall on fd and write-held by close,
	// so no syscall ever runs on a closed descriptor number the process
	// may already have reused.
	mu     sync.RWMutex
	fd     int
	closed bool
	v6     bool
}

// openSharedConn takes over conn's socket: it sizes the kernel buffers,
// duplicates the descriptor and closes conn, which removes conn's
// descriptor from the poller (EPOLL_CTL_DEL) while the socket lives on in
// the duplicate.
func openSharedConn(conn *net.UDPConn) (*sharedConn, error) {
	tuneSharedSocket(conn, sharedSocketBuffer)
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("media: raw shared socket: %w", err)
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(f uintptr) {
		fd, dupErr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("media: raw shared socket: %w", err)
	}
	if dupErr != nil {
		return nil, fmt.Errorf("media: duplicate shared socket: %w", dupErr)
	}
	c := &sharedConn{fd: fd, v6: !isUDP4(conn)}
	if err := conn.Close(); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("media: hand over shared socket: %w", err)
	}
	// The runtime made the socket non-blocking and the flag belongs to
	// the open file, which the duplicate shares; set it again all the same,
	// since a blocking recvmmsg would stall a pacer.
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("media: shared socket non-blocking: %w", err)
	}
	return c, nil
}

// close closes the socket once every syscall in progress on it has
// returned.
func (c *sharedConn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	return unix.Close(c.fd)
}

// waitFor waits up to timeout for the socket to be readable (unix.POLLIN)
// or writable (unix.POLLOUT). It reports false if the socket is closed.
func (c *sharedConn) waitFor(events int16, timeout time.Duration) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	fds := [1]unix.PollFd{{Fd: int32(c.fd), Events: events}}
	_, _ = unix.Poll(fds[:], int(timeout/time.Millisecond)) // EINTR: the caller tries again
	return true
}

// batchSender queues a pacer tick's packets for one shared socket and
// writes them with sendmmsg(2), sendBatch at a time. It is owned by one
// pacer goroutine.
type batchSender struct {
	conn *sharedConn
	obs  *lateMeter
	now  func() int64

	n     int // messages queued
	msgs  [sendBatch]unix.Mmsghdr
	iovs  [sendBatch]unix.Iovec
	names [sendBatch]unix.RawSockaddrInet6 // big enough for either family
	due   [sendBatch]int64                 // frame due time; noDue: not observed
	bufs  [sendBatch][maxSendPacket]byte

	off    int // first message not yet written
	failed int // since the last flush
	err    sendBatchError
}

func newBatchSender(conn *sharedConn, obs *lateMeter, now func() int64) (*batchSender, error) {
	b := &batchSender{conn: conn, obs: obs, now: now}
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b, nil
}

// send copies pkt into the next message of the batch; a full batch is
// written at once. Write failures are reported by the next flush.
func (b *batchSender) send(_ *net.UDPConn, pkt []byte, dst netip.AddrPort, due int64) error {
	if len(pkt) > maxSendPacket {
		return ErrShortPacket // cannot happen: the pacer builds at most packetSize
	}
	i := b.n
	namelen := putSockaddr(&b.names[i], dst, b.conn.v6)
	if namelen == 0 {
		return errNoRoute
	}
	b.msgs[i].Hdr.Namelen = namelen
	b.iovs[i].SetLen(copy(b.bufs[i][:], pkt))
	b.due[i] = due
	b.n++
	if b.n == sendBatch {
		b.writeAll()
	}
	return nil
}

// flush writes what is queued. It returns a *sendBatchError counting the
// packets that could not be written since the previous flush.
func (b *batchSender) flush() error {
	b.writeAll()
	if b.failed == 0 {
		return nil
	}
	b.err.failed, b.failed = b.failed, 0
	return &b.err
}

// writeAll writes the queued messages, skipping (and counting) any the
// kernel refuses, and observes each written frame's lateness once the
// syscall that carried it has returned.
func (b *batchSender) writeAll() {
	b.off = 0
	for waits := 0; b.off < b.n; {
		written, errno, ok := b.write()
		switch {
		case !ok:
			b.failed += b.n - b.off // the socket is closed
			b.n = 0
			return
		case errno == unix.EAGAIN:
			// The send buffer is full: wait for room, as a blocking
			// socket would, but give up on this tick's batch rather than
			// let the pacer fall ever further behind.
			if waits++; waits > maxSendWaits || !b.conn.waitFor(unix.POLLOUT, tickInterval) {
				b.failed += b.n - b.off
				b.n = 0
				return
			}
			continue
		case errno != 0:
			// sendmmsg fails only when the first message fails; skip it
			// and send on from the next.
			b.failed++
			b.off++
			continue
		}
		if b.obs != nil {
			t := b.now()
			for _, due := range b.due[b.off : b.off+written] {
				if due != noDue {
					b.obs.observe(t, due)
				}
			}
		}
		b.off += written
	}
	b.n = 0
}

// maxSendWaits bounds how many times one flush waits for a full send
// buffer to drain.
const maxSendWaits = 4

// write is one sendmmsg(2) of the messages from off. ok is false when
// the socket is closed.
//
// It is a raw syscall, as is poll's recvmmsg: the pacer keeps its P (the
// Go scheduler's processor) while the kernel works. The socket is
// non-blocking and recvmmsg has MSG_DONTWAIT, so neither call ever waits:
// each is CPU work for the pacer, 80-200 µs for a batch of 64. Through
// entersyscall, a call that long lets the runtime's monitor hand the P to
// another thread, and when the kernel returns the pacer queues for a P
// behind whatever runs meanwhile. A tick makes a sendmmsg per 64 frames; at
// 4,000 IVR calls a runtime trace showed the pacers waiting for a P after
// those calls 1.1 ms at the median and 15.5 ms at p99 (bench/README.md).
func (b *batchSender) write() (written int, errno syscall.Errno, ok bool) {
	c := b.conn
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0, 0, false
	}
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&b.msgs[b.off])),
			uintptr(b.n-b.off), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e, true
		}
		return int(r), 0, true
	}
}

// batchReader reads up to recvBatch datagrams per recvmmsg(2) into
// preallocated buffers. It is owned by the shard's pacer.
type batchReader struct {
	conn *sharedConn

	msgs  [recvBatch]unix.Mmsghdr
	iovs  [recvBatch]unix.Iovec
	names [recvBatch]unix.RawSockaddrInet6
	bufs  [recvBatch][receiveBufferSize]byte
}

func newBatchReader(conn *sharedConn) (*batchReader, error) {
	r := &batchReader{conn: conn}
	for i := range r.msgs {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(receiveBufferSize)
		r.msgs[i].Hdr.Iov = &r.iovs[i]
		r.msgs[i].Hdr.SetIovlen(1)
		r.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	return r, nil
}

// read waits for datagrams and returns how many arrived; packet(i) gives
// each. The pacer never waits on its socket (it polls at each tick);
// read is for tools and tests that want the next datagram. The error is
// as for poll.
func (r *batchReader) read() (int, error) {
	for {
		n, err := r.poll()
		if n > 0 || err != nil {
			return n, err
		}
		if !r.conn.waitFor(unix.POLLIN, 100*time.Millisecond) {
			return 0, net.ErrClosed
		}
	}
}

// poll reads what is queued on the socket without waiting: 0 when
// nothing is. The error is net.ErrClosed once the socket is closed, or a
// transient one from the kernel (e.g. a queued ICMP error).
func (r *batchReader) poll() (int, error) {
	c := r.conn
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	for i := range r.msgs {
		r.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6 // the kernel shrinks it
	}
	for {
		// Raw, as write's sendmmsg is.
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&r.msgs[0])),
			recvBatch, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, e
		}
	}
}

// packet returns datagram i of the last read and its source. The bytes
// are the reader's and valid until the next read.
func (r *batchReader) packet(i int) ([]byte, netip.AddrPort) {
	return r.bufs[i][:r.msgs[i].Len], getSockaddr(&r.names[i])
}

// putSockaddr writes dst into sa for a socket of the given family and
// returns its length, or 0 when dst cannot be reached from that socket.
func putSockaddr(sa *unix.RawSockaddrInet6, dst netip.AddrPort, v6 bool) uint32 {
	a := dst.Addr()
	if !v6 {
		a = a.Unmap()
		if !a.Is4() {
			return 0
		}
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		s4.Family = unix.AF_INET
		putPort(&s4.Port, dst.Port())
		s4.Addr = a.As4()
		return unix.SizeofSockaddrInet4
	}
	if !a.IsValid() {
		return 0
	}
	sa.Family = unix.AF_INET6
	putPort(&sa.Port, dst.Port())
	sa.Flowinfo = 0
	sa.Addr = a.As16() // an IPv4 address becomes v4-mapped
	sa.Scope_id = 0
	return unix.SizeofSockaddrInet6
}

// getSockaddr reads a source address the kernel wrote into sa; IPv4-mapped
// addresses come back unmapped, as the demultiplexer keys them.
func getSockaddr(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), getPort(&s4.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), getPort(&sa.Port))
	}
	return netip.AddrPort{}
}

// putPort and getPort convert a sockaddr's port, stored in network byte
// order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// tuneSharedSocket asks for large kernel buffers each way. SO_RCVBUFFORCE
// and SO_SNDBUFFORCE pass the net.core.[rw]mem_max cap when the process
// may (CAP_NET_ADMIN); otherwise the capped size is what we get.
func tuneSharedSocket(conn *net.UDPConn, size int) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return
	}
	var forced bool
	_ = raw.Control(func(fd uintptr) {
		forced = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) == nil &&
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size) == nil
	})
	if !forced {
		_ = conn.SetReadBuffer(size)
		_ = conn.SetWriteBuffer(size)
	}
}
