package prompts

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/zaf/g711"
)

// wavSpec describes a test WAV file. Zero values give 8 kHz mono 16-bit PCM.
type wavSpec struct {
	tag      uint16
	channels uint16
	rate     uint32
	bits     uint16
	data     []byte
	before   [][]byte // raw chunks (id+size+body) placed between fmt and data
}

func (s wavSpec) bytes() []byte {
	if s.tag == 0 {
		s.tag = formatPCM
	}
	if s.channels == 0 {
		s.channels = 1
	}
	if s.rate == 0 {
		s.rate = 8000
	}
	if s.bits == 0 {
		s.bits = 16
	}
	align := s.channels * s.bits / 8
	fmtBody := make([]byte, 16)
	binary.LittleEndian.PutUint16(fmtBody[0:], s.tag)
	binary.LittleEndian.PutUint16(fmtBody[2:], s.channels)
	binary.LittleEndian.PutUint32(fmtBody[4:], s.rate)
	binary.LittleEndian.PutUint32(fmtBody[8:], s.rate*uint32(align))
	binary.LittleEndian.PutUint16(fmtBody[12:], align)
	binary.LittleEndian.PutUint16(fmtBody[14:], s.bits)

	var body []byte
	body = append(body, "WAVE"...)
	body = append(body, chunk("fmt ", fmtBody)...)
	for _, c := range s.before {
		body = append(body, c...)
	}
	body = append(body, chunk("data", s.data)...)
	out := append([]byte("RIFF"), le32(uint32(len(body)))...)
	return append(out, body...)
}

// chunk encodes a RIFF chunk, with the pad byte for odd sizes.
func chunk(id string, body []byte) []byte {
	out := append([]byte(id), le32(uint32(len(body)))...)
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func le32(v uint32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	return b
}

func pcmBytes(samples []int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

// tone returns n samples of a sine at hz sampled at rate.
func tone(hz, rate float64, amplitude float64, n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amplitude * math.Sin(2*math.Pi*hz*float64(i)/rate))
	}
	return s
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func rms(s []int16) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// decodePCMU turns the first n bytes of a μ-law payload back into samples.
func decodePCMU(p []byte, n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = g711.DecodeUlawFrame(p[i])
	}
	return s
}

// zeroCrossingHz estimates the frequency of a pure tone at 8 kHz.
func zeroCrossingHz(s []int16) float64 {
	crossings := 0
	for i := 1; i < len(s); i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			crossings++
		}
	}
	return float64(crossings) / 2 / (float64(len(s)) / SampleRate)
}
