package media

import (
	"testing"

	"github.com/zaf/g711"
)

func TestEncodeMatchesReferenceForEverySample(t *testing.T) {
	tests := []struct {
		name   string
		encode func([]byte, []int16) int
		ref    func(int16) uint8
	}{
		{"PCMU", EncodePCMU, g711.EncodeUlawFrame},
		{"PCMA", EncodePCMA, g711.EncodeAlawFrame},
	}
	pcm := make([]int16, 65536)
	for i := range pcm {
		pcm[i] = int16(uint16(i))
	}
	dst := make([]byte, len(pcm))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := tt.encode(dst, pcm); n != len(pcm) {
				t.Fatalf("encoded %d samples, want %d", n, len(pcm))
			}
			for i, s := range pcm {
				if want := tt.ref(s); dst[i] != want {
					t.Fatalf("sample %d encodes to %#x, reference %#x", s, dst[i], want)
				}
			}
		})
	}
}

func TestDecodeMatchesReferenceForEveryCode(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]int16, []byte) int
		ref    func(uint8) int16
	}{
		{"PCMU", DecodePCMU, g711.DecodeUlawFrame},
		{"PCMA", DecodePCMA, g711.DecodeAlawFrame},
	}
	src := make([]byte, 256)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]int16, 256)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := tt.decode(dst, src); n != 256 {
				t.Fatalf("decoded %d codes, want 256", n)
			}
			for i, b := range src {
				if want := tt.ref(b); dst[i] != want {
					t.Fatalf("code %#x decodes to %d, reference %d", b, dst[i], want)
				}
			}
		})
	}
}

func TestDecodedSamplesReencodeToTheSameLevel(t *testing.T) {
	tests := []struct {
		name   string
		encode func([]byte, []int16) int
		decode func([]int16, []byte) int
	}{
		{"PCMU", EncodePCMU, DecodePCMU},
		{"PCMA", EncodePCMA, DecodePCMA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			codes := make([]byte, 256)
			for i := range codes {
				codes[i] = byte(i)
			}
			pcm := make([]int16, 256)
			tt.decode(pcm, codes)
			again := make([]byte, 256)
			tt.encode(again, pcm)
			pcm2 := make([]int16, 256)
			tt.decode(pcm2, again)
			// µ-law has two codes for zero (0x7F, 0xFF): compare levels,
			// not codes.
			for i := range pcm {
				if pcm[i] != pcm2[i] {
					t.Fatalf("code %#x: level %d re-encodes to level %d", i, pcm[i], pcm2[i])
				}
			}
		})
	}
}

func TestZeroEncodesToTheSilenceByte(t *testing.T) {
	var b [1]byte
	EncodePCMU(b[:], []int16{0})
	if b[0] != silencePCMU || silenceByte(PayloadPCMU) != silencePCMU {
		t.Errorf("PCMU silence %#x, want %#x", b[0], silencePCMU)
	}
	EncodePCMA(b[:], []int16{0})
	if b[0] != silencePCMA || silenceByte(PayloadPCMA) != silencePCMA {
		t.Errorf("PCMA silence %#x, want %#x", b[0], silencePCMA)
	}
}

func TestCodecHelpersStopAtTheShorterBuffer(t *testing.T) {
	if n := EncodePCMU(make([]byte, 3), make([]int16, 10)); n != 3 {
		t.Errorf("EncodePCMU into 3 bytes wrote %d", n)
	}
	if n := EncodePCMA(make([]byte, 10), make([]int16, 4)); n != 4 {
		t.Errorf("EncodePCMA of 4 samples wrote %d", n)
	}
	if n := DecodePCMU(make([]int16, 2), make([]byte, 10)); n != 2 {
		t.Errorf("DecodePCMU into 2 samples wrote %d", n)
	}
	if n := DecodePCMA(nil, make([]byte, 10)); n != 0 {
		t.Errorf("DecodePCMA into nil wrote %d", n)
	}
}

func benchFrame() []int16 {
	pcm := make([]int16, FrameSize)
	for i := range pcm {
		pcm[i] = int16(i*397 - 30000)
	}
	return pcm
}

func BenchmarkEncodePCMUFrame(b *testing.B) {
	pcm, dst := benchFrame(), make([]byte, FrameSize)
	b.ReportAllocs()
	for b.Loop() {
		EncodePCMU(dst, pcm)
	}
}

func BenchmarkEncodePCMAFrame(b *testing.B) {
	pcm, dst := benchFrame(), make([]byte, FrameSize)
	b.ReportAllocs()
	for b.Loop() {
		EncodePCMA(dst, pcm)
	}
}

// BenchmarkEncodePCMUFramePerSample is the reference per-sample function,
// for comparison with the table.
func BenchmarkEncodePCMUFramePerSample(b *testing.B) {
	pcm, dst := benchFrame(), make([]byte, FrameSize)
	b.ReportAllocs()
	for b.Loop() {
		for i, s := range pcm {
			dst[i] = g711.EncodeUlawFrame(s)
		}
	}
}

func BenchmarkDecodePCMUFrame(b *testing.B) {
	src, dst := make([]byte, FrameSize), make([]int16, FrameSize)
	EncodePCMU(src, benchFrame())
	b.ReportAllocs()
	for b.Loop() {
		DecodePCMU(dst, src)
	}
}

func BenchmarkDecodePCMAFrame(b *testing.B) {
	src, dst := make([]byte, FrameSize), make([]int16, FrameSize)
	EncodePCMA(src, benchFrame())
	b.ReportAllocs()
	for b.Loop() {
		DecodePCMA(dst, src)
	}
}
