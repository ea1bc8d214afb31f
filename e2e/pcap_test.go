//go:build linux

package e2e

import (
	"encoding/binary"
	"os"
	"testing"
)

// writeDTMFPcap writes a pcap of one RFC 4733 key press as a phone sends
// it: a marked start packet, continuation packets every 20 ms with a
// growing duration and the same timestamp, and the end packet sent three
// times (RFC 4733 section 2.5.1.4). sipp's play_pcap_audio replays it.
// leadFrames of PCMU silence come first, as a phone sends audio from the
// answer on: the key press comes that many 20 ms frames in.
func writeDTMFPcap(t *testing.T, path string, key byte, payloadType uint8, leadFrames int) {
	t.Helper()
	event := map[byte]uint8{'*': 10, '#': 11}[key]
	if key >= '0' && key <= '9' {
		event = key - '0'
	}
	var out []byte
	out = binary.LittleEndian.AppendUint32(out, 0xa1b2c3d4) // pcap magic
	out = binary.LittleEndian.AppendUint16(out, 2)
	out = binary.LittleEndian.AppendUint16(out, 4)
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, 65535)
	out = binary.LittleEndian.AppendUint32(out, 1) // Ethernet

	ts := uint32(48000 + leadFrames*160)
	seq := uint16(1000)
	n := 0
	add := func(marker, end bool, duration uint16) {
		rtp := make([]byte, 16)
		rtp[0] = 0x80
		rtp[1] = payloadType
		if marker {
			rtp[1] |= 0x80
		}
		binary.BigEndian.PutUint16(rtp[2:], seq)
		binary.BigEndian.PutUint32(rtp[4:], ts)
		binary.BigEndian.PutUint32(rtp[8:], 0x5eed1234)
		rtp[12] = event
		rtp[13] = 10 // volume -10 dBm0
		if end {
			rtp[13] |= 0x80
		}
		binary.BigEndian.PutUint16(rtp[14:], duration)
		seq++
		out = append(out, pcapRecord(n, rtp)...)
		n++
	}
	for range leadFrames {
		frame := make([]byte, 12+160)
		frame[0] = 0x80
		binary.BigEndian.PutUint16(frame[2:], seq)
		binary.BigEndian.PutUint32(frame[4:], uint32(n*160))
		binary.BigEndian.PutUint32(frame[8:], 0x5eed1234)
		for i := 12; i < len(frame); i++ {
			frame[i] = 0xFF // μ-law silence
		}
		seq++
		out = append(out, pcapRecord(n, frame)...)
		n++
	}
	add(true, false, 160)
	for d := uint16(320); d <= 960; d += 160 {
		add(false, false, d)
	}
	for i := 0; i < 3; i++ {
		add(false, true, 1120)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pcapRecord wraps an RTP packet in Ethernet, IPv4 and UDP, stamped
// 20 ms after the previous one.
func pcapRecord(i int, rtp []byte) []byte {
	udpLen := 8 + len(rtp)
	ipLen := 20 + udpLen
	frame := make([]byte, 14+ipLen)
	binary.BigEndian.PutUint16(frame[12:], 0x0800)
	ip := frame[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:], []byte{127, 0, 0, 1})
	copy(ip[16:], []byte{127, 0, 0, 1})
	var sum uint32
	for k := 0; k < 20; k += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[k:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 6000)
	binary.BigEndian.PutUint16(udp[2:], 7000)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	copy(udp[8:], rtp)

	usec := i * 20000
	var rec []byte
	rec = binary.LittleEndian.AppendUint32(rec, uint32(1000+usec/1000000))
	rec = binary.LittleEndian.AppendUint32(rec, uint32(usec%1000000))
	rec = binary.LittleEndian.AppendUint32(rec, uint32(len(frame)))
	rec = binary.LittleEndian.AppendUint32(rec, uint32(len(frame)))
	return append(rec, frame...)
}
