//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sink: n sockets read with recvmmsg, and with -inbound written with
// sendmmsg, each message carrying an IP_PKTINFO control message that picks
// its stream's source address (any 127.x.y.z is local on Linux), so one
// socket speaks for many callers. Raw syscalls into preallocated buffers,
// so the sink costs as little as it can beside the engine.

const sinkBatch = 64

// runSink is the child process. It prints its sockets' ports, then obeys
// its stdin: "send <engine port per stream>..." starts the caller audio,
// "stop" stops it and prints how many packets it sent, end of input closes
// the sockets and prints "<packets read> <CPU seconds>".
func runSink(n int, read, inbound bool, audioDir string) {
	var total atomic.Uint64
	var conns []*net.UDPConn
	var ports []string
	ip := net.IPv4(127, 0, 0, 1)
	if inbound {
		ip = net.IPv4zero // every 127.x.y.z, one per stream
	}
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
		if err != nil {
			log.Fatal(err)
		}
		bigBuffers(c, 16<<20)
		conns = append(conns, c)
		ports = append(ports, strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port))
	}
	var speech []byte
	if inbound {
		var err error
		if speech, err = loadSpeech(audioDir); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(strings.Join(ports, " "))
	var readers sync.WaitGroup
	if read {
		for _, c := range conns {
			readers.Go(func() { sinkRead(c, &total) })
		}
	}
	var (
		stop    chan struct{}
		senders sync.WaitGroup
		sent    atomic.Uint64
	)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<16), 1<<22)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) > 1 && f[0] == "send" && stop == nil:
			dst := make([]uint16, len(f)-1)
			for i, p := range f[1:] {
				v, err := strconv.ParseUint(p, 10, 16)
				if err != nil {
					log.Fatal(err)
				}
				dst[i] = uint16(v)
			}
			stop = make(chan struct{})
			start := time.Now()
			for j, c := range conns {
				senders.Go(func() { sinkSend(c, j, len(conns), dst, speech, start, stop, &sent) })
			}
		case len(f) == 1 && f[0] == "stop":
			if stop != nil {
				close(stop)
				senders.Wait()
			}
			fmt.Println(sent.Load())
		}
	}
	for _, c := range conns {
		c.Close()
	}
	readers.Wait()
	fmt.Println(total.Load(), cpuTime().Seconds())
}

func bigBuffers(c *net.UDPConn, size int) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
			c.SetReadBuffer(size)
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size) != nil {
			c.SetWriteBuffer(size)
		}
	})
}

// sinkRead counts datagrams, sinkBatch per recvmmsg.
func sinkRead(c *net.UDPConn, total *atomic.Uint64) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	var (
		msgs [sinkBatch]unix.Mmsghdr
		iovs [sinkBatch]unix.Iovec
		bufs [sinkBatch][1500]byte
		got  int
	)
	for i := range msgs {
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(len(bufs[i]))
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	recv := func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), sinkBatch, 0, 0, 0)
		if e == unix.EAGAIN {
			return false
		}
		got = 0
		if e == 0 {
			got = int(r)
		}
		return true
	}
	for {
		if err := raw.Read(recv); err != nil {
			return
		}
		total.Add(uint64(got))
	}
}

// sinkSend is caller j of every n: it sends one 20 ms PCMU frame of speech
// per stream i ≡ j (mod n) every 20 ms to 127.0.0.1:dst[i], from
// 127.(1+i>>16).(i>>8).(i) on this socket's port. The streams' phases are
// spread over the 20 ms, as independent phones' would be.
func sinkSend(c *net.UDPConn, j, n int, dst []uint16, speech []byte, start time.Time, stop <-chan struct{}, sent *atomic.Uint64) {
	raw, err := c.SyscallConn()
	if err != nil {
		log.Fatal(err)
	}
	type stream struct {
		i    int
		due  time.Duration
		seq  uint16
		ts   uint32
		off  int
		port uint16
	}
	var streams []*stream
	for i := j; i < len(dst); i += n {
		streams = append(streams, &stream{
			i:    i,
			due:  time.Duration(i) * 20 * time.Millisecond / time.Duration(len(dst)),
			off:  (i * 7919 * 160) % (len(speech) - 160),
			port: dst[i],
		})
	}
	const pktLen = 12 + 160
	var (
		msgs  [sinkBatch]unix.Mmsghdr
		iovs  [sinkBatch]unix.Iovec
		names [sinkBatch]unix.RawSockaddrInet4
		ctrl  [sinkBatch][64]byte
		bufs  [sinkBatch][pktLen]byte
		k     int
		off   int
		wrote int
	)
	cmsgLen := unix.CmsgLen(unix.SizeofInet4Pktinfo)
	cmsgSpace := unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	for m := range msgs {
		iovs[m].Base = &bufs[m][0]
		iovs[m].SetLen(pktLen)
		msgs[m].Hdr.Iov = &iovs[m]
		msgs[m].Hdr.SetIovlen(1)
		msgs[m].Hdr.Name = (*byte)(unsafe.Pointer(&names[m]))
		msgs[m].Hdr.Namelen = unix.SizeofSockaddrInet4
		msgs[m].Hdr.Control = &ctrl[m][0]
		msgs[m].Hdr.SetControllen(cmsgSpace)
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[m][0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(cmsgLen)
		names[m].Family = unix.AF_INET
		names[m].Addr = [4]byte{127, 0, 0, 1}
	}
	write := func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[off])), uintptr(k-off), 0, 0, 0)
		switch e {
		case 0:
			wrote = int(r)
		case unix.EAGAIN:
			return false
		default:
			wrote = 1 // skip the refused message
		}
		return true
	}
	flush := func() {
		for off = 0; off < k; off += wrote {
			if raw.Write(write) != nil {
				return
			}
		}
		sent.Add(uint64(k))
		k = 0
	}
	pktinfo := unix.CmsgLen(0)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Since(start)
		for _, s := range streams {
			for s.due <= now {
				b := &bufs[k]
				b[0], b[1] = 0x80, 0 // RTP version 2, PCMU
				binary.BigEndian.PutUint16(b[2:], s.seq)
				binary.BigEndian.PutUint32(b[4:], s.ts)
				binary.BigEndian.PutUint32(b[8:], uint32(s.i)+1)
				copy(b[12:], speech[s.off:s.off+160])
				if s.off += 160; s.off+160 > len(speech) {
					s.off = 0
				}
				s.seq++
				s.ts += 160
				s.due += 20 * time.Millisecond
				p := (*[2]byte)(unsafe.Pointer(&names[k].Port))
				p[0], p[1] = byte(s.port>>8), byte(s.port)
				info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&ctrl[k][pktinfo]))
				info.Spec_dst = [4]byte{127, byte(1 + s.i>>16), byte(s.i >> 8), byte(s.i)}
				if k++; k == sinkBatch {
					flush()
				}
			}
		}
		flush()
	}
}
