//go:build !linux

package media

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"time"
)

// Outside Linux the shared transport keeps its demultiplexing but gives up
// batching: one write per packet and one read per datagram. It compiles
// and behaves the same; only the per-packet cost differs.

// sharedConn is a shared socket; outside Linux it stays with the
// runtime's poller.
type sharedConn struct{ udp *net.UDPConn }

func openSharedConn(conn *net.UDPConn) (*sharedConn, error) {
	tuneSharedSocket(conn, sharedSocketBuffer)
	return &sharedConn{udp: conn}, nil
}

func (c *sharedConn) close() error { return c.udp.Close() }

// batchSender writes each packet at once.
type batchSender struct {
	conn   *net.UDPConn
	obs    *lateMeter
	now    func() int64
	failed int
	err    sendBatchError
}

func newBatchSender(conn *sharedConn, obs *lateMeter, now func() int64) (*batchSender, error) {
	return &batchSender{conn: conn.udp, obs: obs, now: now}, nil
}

func (b *batchSender) send(_ *net.UDPConn, pkt []byte, dst netip.AddrPort, due int64) error {
	if isUDP4(b.conn) {
		dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	}
	if _, err := b.conn.WriteToUDPAddrPort(pkt, dst); err != nil {
		b.failed++ // reported by flush, as the batching sender does
		return nil
	}
	if b.obs != nil && due != noDue {
		b.obs.observe(b.now(), due)
	}
	return nil
}

func (b *batchSender) flush() error {
	if b.failed == 0 {
		return nil
	}
	b.err.failed, b.failed = b.failed, 0
	return &b.err
}

// batchReader reads one datagram per call.
type batchReader struct {
	conn *net.UDPConn
	n    int
	src  netip.AddrPort
	buf  [receiveBufferSize]byte
}

func newBatchReader(conn *sharedConn) (*batchReader, error) {
	return &batchReader{conn: conn.udp}, nil
}

func (r *batchReader) read() (int, error) {
	n, src, err := r.conn.ReadFromUDPAddrPort(r.buf[:])
	if err != nil {
		return 0, err
	}
	r.n, r.src = n, netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	return 1, nil
}

// poll reads one queued datagram without waiting: 0 when none is.
func (r *batchReader) poll() (int, error) {
	if err := r.conn.SetReadDeadline(time.Now()); err != nil {
		return 0, err
	}
	// A later read waits again.
	defer r.conn.SetReadDeadline(time.Time{}) //nolint:errcheck // the socket is ours; only Close makes it fail
	n, err := r.read()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	return n, err
}

func (r *batchReader) packet(int) ([]byte, netip.AddrPort) { return r.buf[:r.n], r.src }

// tuneSharedSocket asks for large kernel buffers each way.
func tuneSharedSocket(conn *net.UDPConn, size int) {
	_ = conn.SetReadBuffer(size)
	_ = conn.SetWriteBuffer(size)
}
