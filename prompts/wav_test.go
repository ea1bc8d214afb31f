package prompts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
)

func TestDecodeWAVAccepts8kHzMonoPCMUnchanged(t *testing.T) {
	in := tone(1000, 8000, 12000, 800)
	got, err := DecodeWAV(bytes.NewReader(wavSpec{data: pcmBytes(in)}.bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("%d samples, want %d", len(got), len(in))
	}
	for i := range in {
		if got[i] != in[i] {
			t.Fatalf("sample %d = %d, want %d", i, got[i], in[i])
		}
	}
}

func TestDecodeWAVDecimates16kHzToHalfTheSamplesKeepingTheTone(t *testing.T) {
	in := tone(1000, 16000, 10000, 16000) // one second
	got, err := DecodeWAV(bytes.NewReader(wavSpec{rate: 16000, data: pcmBytes(in)}.bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in)/2 {
		t.Fatalf("%d samples at 8 kHz, want %d", len(got), len(in)/2)
	}
	mid := got[200 : len(got)-200] // away from the filter's edge transients
	if hz := zeroCrossingHz(mid); math.Abs(hz-1000) > 10 {
		t.Errorf("tone at %.1f Hz after decimation, want 1000 Hz", hz)
	}
	// Passband gain is unity: a 1 kHz tone keeps its level.
	if r, want := rms(mid), 10000/math.Sqrt2; math.Abs(r-want)/want > 0.02 {
		t.Errorf("RMS %.0f, want %.0f ± 2%%", r, want)
	}
}

func TestDecodeWAVFiltersWidebandContentThatWouldAlias(t *testing.T) {
	// Plain decimation would fold a 6 kHz tone down to 2 kHz at full level.
	in := tone(6000, 16000, 10000, 16000)
	got, err := DecodeWAV(bytes.NewReader(wavSpec{rate: 16000, data: pcmBytes(in)}.bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if r := rms(got[200 : len(got)-200]); r > 10000/math.Sqrt2/1000 {
		t.Errorf("6 kHz tone leaks through at RMS %.1f, want at least 60 dB down", r)
	}
}

func TestDecodeWAVAcceptsCommonWriterVariants(t *testing.T) {
	samples := []int16{100, -200, 300, -400}
	ext := make([]byte, 40)
	binary.LittleEndian.PutUint16(ext[0:], formatExtensible)
	binary.LittleEndian.PutUint16(ext[2:], 1)
	binary.LittleEndian.PutUint32(ext[4:], 8000)
	binary.LittleEndian.PutUint32(ext[8:], 16000)
	binary.LittleEndian.PutUint16(ext[12:], 2)
	binary.LittleEndian.PutUint16(ext[14:], 16)
	binary.LittleEndian.PutUint16(ext[16:], 22) // cbSize
	binary.LittleEndian.PutUint16(ext[18:], 16) // valid bits
	binary.LittleEndian.PutUint16(ext[24:], formatPCM)
	copy(ext[26:], ksdataformatTail[:])
	extensible := append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("fmt ", ext)...)
	extensible = append(extensible, chunk("data", pcmBytes(samples))...)

	tests := []struct {
		name string
		file []byte
	}{
		{"WAVE_FORMAT_EXTENSIBLE with PCM sub-format", extensible},
		{"odd-sized LIST chunk before data is skipped with its pad byte", wavSpec{
			data:   pcmBytes(samples),
			before: [][]byte{chunk("LIST", []byte("INFOISFT\x03\x00\x00\x00ab\x00"))},
		}.bytes()},
		{"trailing chunks after data are ignored", append(wavSpec{data: pcmBytes(samples)}.bytes(), chunk("id3 ", []byte{1, 2, 3})...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWAV(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(samples) || got[3] != samples[3] {
				t.Fatalf("got %v, want %v", got, samples)
			}
		})
	}
}

func TestDecodeWAVRefusesWhatItCannotPlay(t *testing.T) {
	pcm := pcmBytes(tone(440, 8000, 8000, 100))
	valid := wavSpec{data: pcm}.bytes()
	dataBeforeFmt := append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("data", pcm)...)
	tests := []struct {
		name    string
		file    []byte
		want    error
		message string
	}{
		{"stereo 44.1 kHz", wavSpec{channels: 2, rate: 44100, data: pcm}.bytes(), ErrUnsupportedWAV, "44100 Hz stereo; want 8000 or 16000 Hz mono 16-bit PCM"},
		{"mono 44.1 kHz", wavSpec{rate: 44100, data: pcm}.bytes(), ErrUnsupportedWAV, "44100 Hz mono; want"},
		{"8-bit", wavSpec{bits: 8, data: pcm}.bytes(), ErrUnsupportedWAV, "8000 Hz mono 8-bit PCM"},
		{"32-bit float", wavSpec{tag: formatFloat, bits: 32, data: pcm}.bytes(), ErrUnsupportedWAV, "32-bit float"},
		{"μ-law WAV", wavSpec{tag: formatMuLaw, bits: 8, data: pcm}.bytes(), ErrUnsupportedWAV, "μ-law"},
		{"big-endian RIFX", append([]byte("RIFX"), valid[4:]...), ErrUnsupportedWAV, "RIFX"},
		{"truncated data", valid[:len(valid)-51], ErrMalformedWAV, "data chunk truncated"},
		{"truncated header", valid[:20], ErrMalformedWAV, "truncated fmt chunk"},
		{"empty input", nil, ErrMalformedWAV, "not a RIFF/WAVE file"},
		{"not RIFF", []byte("ID3\x04\x00\x00\x00\x00\x00\x00 this is an mp3"), ErrMalformedWAV, "not a RIFF/WAVE file"},
		{"RIFF but not WAVE", append([]byte("RIFF\x04\x00\x00\x00AVI "), valid[12:]...), ErrMalformedWAV, "not WAVE"},
		{"no data chunk", valid[:36], ErrMalformedWAV, "no data chunk"},
		{"data before fmt", dataBeforeFmt, ErrMalformedWAV, "data chunk before fmt"},
		{"odd data size", wavSpec{data: pcm[:len(pcm)-1]}.bytes(), ErrMalformedWAV, "not whole 16-bit samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWAV(bytes.NewReader(tt.file))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("err = %q, want it to say %q", err, tt.message)
			}
			if got != nil {
				t.Errorf("returned %d samples with the error", len(got))
			}
		})
	}
}

func TestDecodeWAVHugeDeclaredSizesDoNotAllocate(t *testing.T) {
	tests := []struct {
		name string
		file []byte
	}{
		{"data chunk claiming 19 MB over 64 bytes", func() []byte {
			b := wavSpec{data: make([]byte, 64)}.bytes()
			binary.LittleEndian.PutUint32(b[40:], maxWAVData)
			return b
		}()},
		{"data chunk claiming 4 GB", func() []byte {
			b := wavSpec{data: make([]byte, 64)}.bytes()
			binary.LittleEndian.PutUint32(b[40:], 0xFFFFFFFE)
			return b
		}()},
		{"unknown chunk claiming 4 GB", wavSpec{data: make([]byte, 64), before: [][]byte{
			append([]byte("junk\xff\xff\xff\xff"), make([]byte, 32)...),
		}}.bytes()},
		{"fmt chunk claiming 4 GB", func() []byte {
			b := wavSpec{data: make([]byte, 64)}.bytes()
			binary.LittleEndian.PutUint32(b[16:], 0xFFFFFFFE)
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 10 {
				if _, err := DecodeWAV(bytes.NewReader(tt.file)); err == nil {
					t.Fatal("lying header accepted")
				}
			}
			runtime.ReadMemStats(&after)
			if perRun := (after.TotalAlloc - before.TotalAlloc) / 10; perRun > 64<<10 {
				t.Errorf("allocated %d bytes per decode of a %d-byte input", perRun, len(tt.file))
			}
		})
	}
}

func FuzzDecodeWAV(f *testing.F) {
	pcm := pcmBytes(tone(440, 8000, 8000, 64))
	f.Add(wavSpec{data: pcm}.bytes())
	f.Add(wavSpec{rate: 16000, data: pcm}.bytes())
	f.Add(wavSpec{channels: 2, rate: 44100, data: pcm}.bytes())
	f.Add(wavSpec{data: pcm, before: [][]byte{chunk("LIST", []byte("odd"))}}.bytes())
	f.Add(wavSpec{data: pcm}.bytes()[:30])
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\x7f"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		samples, err := DecodeWAV(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformedWAV) && !errors.Is(err, ErrUnsupportedWAV) {
				t.Fatalf("error %v wraps neither ErrMalformedWAV nor ErrUnsupportedWAV", err)
			}
			if samples != nil {
				t.Fatal("samples returned with an error")
			}
			return
		}
		// Output is bounded by input: at most one sample per two bytes.
		if len(samples) > len(data)/2 {
			t.Fatalf("%d samples from %d bytes", len(samples), len(data))
		}
	})
}

func BenchmarkDecodeWAV16kHz(b *testing.B) {
	file := wavSpec{rate: 16000, data: pcmBytes(tone(440, 16000, 8000, 5*16000))}.bytes()
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeWAV(bytes.NewReader(file)); err != nil {
			b.Fatal(err)
		}
	}
}
