//go:build linux

package media

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// Raw sendmmsg(2) and recvmmsg(2) for the shared transport. Not
// golang.org/x/net/ipv4's WriteBatch and ReadBatch: ReadBatch allocates a
// *net.UDPAddr for every datagram's source and WriteBatch wants a net.Addr
// per message, so both cost an allocation per packet on the hot path. Here
// every message header, iovec, sockaddr and buffer is allocated once, with
// the sender or receiver, and the syscalls go through the socket's
// syscall.RawConn, so a full send buffer or an empty receive queue parks
// the goroutine in the runtime's poller like any other socket call.

// batchSender queues a pacer tick's packets for one shared socket and
// writes them with sendmmsg(2), sendBatch at a time. It is owned by one
// pacer goroutine.
type batchSender struct {
	raw syscall.RawConn
	v6  bool
	obs prometheus.Observer
	now func() int64

	n     int // messages queued
	msgs  [sendBatch]unix.Mmsghdr
	iovs  [sendBatch]unix.Iovec
	names [sendBatch]unix.RawSockaddrInet6 // big enough for either family
	due   [sendBatch]int64                 // frame due time; noDue: not observed
	bufs  [sendBatch][maxSendPacket]byte

	// State of the write in progress, for writeFn (a method value made
	// once, so handing it to RawConn.Write allocates nothing).
	off, written int
	errno        syscall.Errno
	writeFn      func(fd uintptr) bool

	failed int // since the last flush
	err    sendBatchError
}

func newBatchSender(conn *net.UDPConn, obs prometheus.Observer, now func() int64) (*batchSender, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("media: raw socket for batched sends: %w", err)
	}
	b := &batchSender{raw: raw, v6: !isUDP4(conn), obs: obs, now: now}
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	b.writeFn = b.write
	return b, nil
}

// send copies pkt into the next message of the batch; a full batch is
// written at once. Write failures are reported by the next flush.
func (b *batchSender) send(_ *net.UDPConn, pkt []byte, dst netip.AddrPort, due int64) error {
	if len(pkt) > maxSendPacket {
		return ErrShortPacket // cannot happen: the pacer builds at most packetSize
	}
	i := b.n
	namelen := putSockaddr(&b.names[i], dst, b.v6)
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
	for b.off < b.n {
		if err := b.raw.Write(b.writeFn); err != nil {
			b.failed += b.n - b.off // the socket is closed
			break
		}
		if b.errno != 0 {
			// sendmmsg fails only when the first message fails; skip it
			// and send on from the next.
			b.failed++
			b.off++
			continue
		}
		if b.obs != nil {
			t := b.now()
			for _, due := range b.due[b.off : b.off+b.written] {
				if due != noDue {
					b.obs.Observe(float64(t-due) / float64(time.Second))
				}
			}
		}
		b.off += b.written
	}
	b.n = 0
}

// write is the RawConn callback: one sendmmsg(2) of the messages from off.
func (b *batchSender) write(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[b.off])),
			uintptr(b.n-b.off), 0, 0, 0)
		switch e {
		case 0:
			b.written, b.errno = int(r), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until the socket is writable
		default:
			b.written, b.errno = 0, e
			return true
		}
	}
}

// batchReader reads up to recvBatch datagrams per recvmmsg(2) into
// preallocated buffers. It is owned by one receive goroutine.
type batchReader struct {
	raw syscall.RawConn
	v6  bool

	msgs  [recvBatch]unix.Mmsghdr
	iovs  [recvBatch]unix.Iovec
	names [recvBatch]unix.RawSockaddrInet6
	bufs  [recvBatch][receiveBufferSize]byte

	n      int
	errno  syscall.Errno
	readFn func(fd uintptr) bool
	pollFn func(fd uintptr) bool
}

func newBatchReader(conn *net.UDPConn) (*batchReader, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("media: raw socket for batched receives: %w", err)
	}
	r := &batchReader{raw: raw, v6: !isUDP4(conn)}
	for i := range r.msgs {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(receiveBufferSize)
		r.msgs[i].Hdr.Iov = &r.iovs[i]
		r.msgs[i].Hdr.SetIovlen(1)
		r.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.readFn = r.recv
	r.pollFn = r.recvNow
	return r, nil
}

// read waits for datagrams and returns how many arrived; packet(i) gives
// each. The error is the socket's (net.ErrClosed once it is closed) or a
// transient one from the kernel (e.g. a queued ICMP error).
func (r *batchReader) read() (int, error) {
	if err := r.raw.Read(r.readFn); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, r.errno
	}
	return r.n, nil
}

// poll reads what is queued on the socket without waiting: 0 when
// nothing is. The error is as for read.
func (r *batchReader) poll() (int, error) {
	if err := r.raw.Read(r.pollFn); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, r.errno
	}
	return r.n, nil
}

// recvNow is recv that takes an empty queue for an answer.
func (r *batchReader) recvNow(fd uintptr) bool {
	if !r.recv(fd) {
		r.n, r.errno = 0, 0
	}
	return true
}

// recv is the RawConn callback: one recvmmsg(2). On a non-blocking socket
// it returns as soon as the queue is empty, with at least one datagram.
func (r *batchReader) recv(fd uintptr) bool {
	for i := range r.msgs {
		r.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6 // the kernel shrinks it
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])),
			recvBatch, 0, 0, 0)
		switch e {
		case 0:
			r.n, r.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.n, r.errno = 0, e
			return true
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
