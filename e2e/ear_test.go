//go:build linux

package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// rtpIn is one RTP packet as the caller's phone received it.
type rtpIn struct {
	At      time.Time
	Seq     uint16
	TS      uint32
	PT      uint8
	Marker  bool
	SSRC    uint32
	Payload []byte
}

// ear is the caller's audio socket: what hotline sends, with arrival times.
type ear struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pkts []rtpIn
	from *net.UDPAddr // where hotline's RTP comes from
	done chan struct{}
}

func listenEar(t *testing.T, port int) *ear {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatalf("ear: %v", err)
	}
	e := &ear{conn: conn, done: make(chan struct{})}
	go e.read()
	t.Cleanup(func() { conn.Close(); <-e.done })
	return e
}

func (e *ear) read() {
	defer close(e.done)
	buf := make([]byte, 2048)
	for {
		n, src, err := e.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		at := time.Now()
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		cc := int(buf[0] & 0x0f)
		hdr := 12 + 4*cc
		if n < hdr {
			continue
		}
		p := rtpIn{At: at, Marker: buf[1]&0x80 != 0, PT: buf[1] & 0x7f,
			Seq: binary.BigEndian.Uint16(buf[2:]), TS: binary.BigEndian.Uint32(buf[4:]), SSRC: binary.BigEndian.Uint32(buf[8:]),
			Payload: append([]byte(nil), buf[hdr:n]...)}
		e.mu.Lock()
		e.pkts = append(e.pkts, p)
		if e.from == nil {
			e.from = src
		}
		e.mu.Unlock()
	}
}

func (e *ear) packets() []rtpIn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]rtpIn(nil), e.pkts...)
}

// findClip locates clip (G.711 bytes, whole 160-byte frames) in the
// received stream as consecutive packets; it returns the index of the
// first packet and how many packets it spans.
func findClip(pkts []rtpIn, clip []byte) (int, int, error) {
	const frame = 160
	frames := len(clip) / frame
	for i := range pkts {
		if len(pkts[i].Payload) != frame || string(pkts[i].Payload) != string(clip[:frame]) {
			continue
		}
		for k := 0; k < frames; k++ {
			if i+k >= len(pkts) {
				return i, k, fmt.Errorf("stream ends %d frames into the clip of %d", k, frames)
			}
			if string(pkts[i+k].Payload) != string(clip[k*frame:(k+1)*frame]) {
				return i, k, fmt.Errorf("frame %d of %d differs from the prompt", k, frames)
			}
		}
		return i, frames, nil
	}
	return 0, 0, errors.New("the clip's first frame never arrived")
}

// checkContinuity asserts the RTP stream has no sequence gaps, no
// timestamp jumps and no arrival gap over maxGap.
func checkContinuity(pkts []rtpIn, maxGap time.Duration) error {
	for i := 1; i < len(pkts); i++ {
		a, b := pkts[i-1], pkts[i]
		if b.SSRC != a.SSRC {
			return fmt.Errorf("packet %d: SSRC changed", i)
		}
		if b.Seq != a.Seq+1 {
			return fmt.Errorf("packet %d: sequence %d after %d", i, b.Seq, a.Seq)
		}
		if b.TS != a.TS+160 {
			return fmt.Errorf("packet %d: timestamp %d after %d (want +160)", i, b.TS, a.TS)
		}
		if gap := b.At.Sub(a.At); gap > maxGap {
			return fmt.Errorf("packet %d: arrived %v after the previous one (max %v)", i, gap, maxGap)
		}
	}
	return nil
}

// rmsPCMU is the loudness of μ-law audio as 16-bit RMS.
func rmsPCMU(b []byte) float64 {
	var sum float64
	for _, v := range b {
		s := float64(g711.DecodeUlawFrame(v))
		sum += s * s
	}
	return math.Sqrt(sum / float64(max(1, len(b))))
}

// speak makes the caller talk: once hotline's RTP arrives, the ear sends
// a μ-law tone back to where it came from (symmetric RTP, as a phone
// does), one 20 ms frame every 20 ms, until the test ends.
func (e *ear) speak(t *testing.T, hz float64) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		var to *net.UDPAddr
		for to == nil {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			e.mu.Lock()
			to = e.from
			e.mu.Unlock()
		}
		pkt := make([]byte, 12+160)
		pkt[0], pkt[1] = 0x80, 0
		binary.BigEndian.PutUint32(pkt[8:], 0xca11e4)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			binary.BigEndian.PutUint16(pkt[2:], uint16(n))
			binary.BigEndian.PutUint32(pkt[4:], uint32(n*160))
			for i := 0; i < 160; i++ {
				v := int16(8000 * math.Sin(2*math.Pi*hz*float64(n*160+i)/8000))
				pkt[12+i] = g711.EncodeUlawFrame(v)
			}
			e.conn.WriteToUDP(pkt, to)
		}
	}()
}

// decoded returns the received μ-law payloads as linear samples, in order.
func decodedPCMU(pkts []rtpIn) []int16 {
	out := make([]int16, 0, 160*len(pkts))
	for _, p := range pkts {
		if p.PT != 0 {
			continue
		}
		for _, b := range p.Payload {
			out = append(out, g711.DecodeUlawFrame(b))
		}
	}
	return out
}
