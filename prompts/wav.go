package prompts

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"

	"github.com/zaf/g711"
)

const (
	// SampleRate is the rate of every catalogue prompt: G.711 narrowband.
	SampleRate = 8000

	// maxWAVData bounds the audio a single file may hold: ten minutes at
	// 16 kHz. Prompts are seconds long; anything larger is a mistake and
	// must not be decoded into memory.
	maxWAVData = 10 * 60 * 16000 * 2

	// maxFmtChunk bounds the fmt chunk we are willing to skip through. The
	// largest standard one (WAVE_FORMAT_EXTENSIBLE) is 40 bytes.
	maxFmtChunk = 1024

	formatPCM        = 0x0001
	formatFloat      = 0x0003
	formatALaw       = 0x0006
	formatMuLaw      = 0x0007
	formatExtensible = 0xFFFE
)

// ksdataformatTail is bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID; the
// first two bytes carry the format tag (1 for PCM).
var ksdataformatTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// wavFormat is the part of a fmt chunk that decides whether we accept it.
type wavFormat struct {
	tag      uint16
	channels uint16
	rate     uint32
	bits     uint16
}

func (f wavFormat) isPCM16Mono() bool {
	return f.tag == formatPCM && f.channels == 1 && f.bits == 16
}

func (f wavFormat) isMuLaw8Mono() bool {
	return f.tag == formatMuLaw && f.channels == 1 && f.bits == 8
}

// describe names the rate and channel layout always, and the sample format
// only when it is the problem, giving messages such as "44100 Hz stereo".
func (f wavFormat) describe() string {
	var ch string
	switch f.channels {
	case 1:
		ch = "mono"
	case 2:
		ch = "stereo"
	default:
		ch = fmt.Sprintf("%d channels", f.channels)
	}
	s := fmt.Sprintf("%d Hz %s", f.rate, ch)
	if f.tag == formatPCM && f.bits == 16 {
		return s
	}
	switch f.tag {
	case formatPCM:
		return fmt.Sprintf("%s %d-bit PCM", s, f.bits)
	case formatFloat:
		return fmt.Sprintf("%s %d-bit float", s, f.bits)
	case formatALaw:
		return s + " A-law"
	case formatMuLaw:
		return s + " μ-law"
	default:
		return fmt.Sprintf("%s format 0x%04x", s, f.tag)
	}
}

// DecodeWAV reads a RIFF/WAVE file holding 16-bit PCM mono audio at 8000 or
// 16000 Hz and returns it as 8 kHz samples; 16 kHz audio is low-pass
// filtered below 4 kHz and decimated. Any other format (stereo, 8-bit,
// float, other rates) yields an error wrapping ErrUnsupportedWAV; input that
// is not RIFF/WAVE or whose chunks are truncated or inconsistent yields an
// error wrapping ErrMalformedWAV.
//
// Memory use is bounded by the input actually read, never by the sizes a
// header claims, so a hostile file cannot force a large allocation.
func DecodeWAV(r io.Reader) (samples []int16, err error) {
	return decodeOperatorWAV(r, inputSize(r))
}

func decodeOperatorWAV(r io.Reader, sizeHint int64) ([]int16, error) {
	pcm, format, err := decodeWAV(r, operatorRate, sizeHint)
	if err != nil {
		return nil, err
	}
	if format.rate == SampleRate {
		return pcm, nil
	}
	return resample(pcm, int(format.rate), SampleRate), nil
}

// inputSize returns how many bytes r can still deliver when r knows it
// (bytes.Reader, strings.Reader, files), or -1. It is only a capacity hint
// that lets a truthful header be decoded without regrowing the sample
// slice; claims beyond it are never trusted.
func inputSize(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return -1
}

// operatorRate accepts the rates of operator files: telephone narrowband,
// and wideband, which is what most recording tools offer for voice.
func operatorRate(hz uint32) bool { return hz == 8000 || hz == 16000 }

// decodeWAV parses a 16-bit PCM mono WAV whose rate acceptRate approves,
// refusing before the audio is read; sizeHint is the input's length if
// known, else -1. It stops at the data chunk: anything after
// it (LIST, id3, ...) is irrelevant.
func decodeWAV(r io.Reader, acceptRate func(hz uint32) bool, sizeHint int64) ([]int16, wavFormat, error) {
	accept := func(f wavFormat) bool { return f.isPCM16Mono() && acceptRate(f.rate) }
	return decodeWAVFormat(r, accept, "want 8000 or 16000 Hz mono 16-bit PCM", sizeHint)
}

// decodeBuiltInWAV parses the embedded audio render.sh writes: 8 kHz mono
// G.711 μ-law, the encoding calls hear, at half the size of 16-bit PCM.
// Operator files are not read with it: they go through DecodeWAV.
func decodeBuiltInWAV(r io.Reader, sizeHint int64) ([]int16, error) {
	accept := func(f wavFormat) bool { return f.isMuLaw8Mono() && f.rate == SampleRate }
	pcm, _, err := decodeWAVFormat(r, accept, "want 8000 Hz mono μ-law", sizeHint)
	return pcm, err
}

// decodeWAVFormat parses a WAV file whose format accept approves; want
// tells, in the refusal, what would have been accepted. Data is 16-bit PCM
// or 8-bit μ-law, the only formats any accept function approves.
func decodeWAVFormat(r io.Reader, accept func(wavFormat) bool, want string, sizeHint int64) ([]int16, wavFormat, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, wavFormat{}, malformed("not a RIFF/WAVE file: too short")
	}
	switch string(hdr[0:4]) {
	case "RIFF":
	case "RIFX", "RF64", "BW64":
		return nil, wavFormat{}, unsupported(string(hdr[0:4]) + " container; want little-endian RIFF/WAVE")
	default:
		return nil, wavFormat{}, malformed("not a RIFF/WAVE file")
	}
	if string(hdr[8:12]) != "WAVE" {
		return nil, wavFormat{}, malformed("RIFF file is not WAVE")
	}
	// The RIFF size field is not checked: many writers leave it wrong, and
	// each chunk carries its own size anyway.

	var (
		format  wavFormat
		haveFmt bool
		chunk   [8]byte
	)
	for {
		if _, err := io.ReadFull(r, chunk[:]); err != nil {
			if !haveFmt {
				return nil, wavFormat{}, malformed("no fmt chunk")
			}
			return nil, wavFormat{}, malformed("no data chunk")
		}
		id := string(chunk[0:4])
		size := int64(binary.LittleEndian.Uint32(chunk[4:8]))
		switch id {
		case "fmt ":
			if haveFmt {
				return nil, wavFormat{}, malformed("duplicate fmt chunk")
			}
			f, err := readFmt(r, size)
			if err != nil {
				return nil, wavFormat{}, err
			}
			format, haveFmt = f, true
		case "data":
			if !haveFmt {
				return nil, wavFormat{}, malformed("data chunk before fmt chunk")
			}
			if !accept(format) {
				return nil, wavFormat{}, unsupported(format.describe() + "; " + want)
			}
			if format.isMuLaw8Mono() {
				pcm, err := readMuLaw(r, size, sizeHint)
				return pcm, format, err
			}
			pcm, err := readPCM16(r, size, sizeHint)
			return pcm, format, err
		default:
			// Chunks are word aligned: an odd size is followed by a pad byte.
			if err := skip(r, size+size&1); err != nil {
				return nil, wavFormat{}, malformed(fmt.Sprintf("truncated %q chunk", id))
			}
		}
	}
}

// readFmt parses a fmt chunk of the given size, including the
// WAVE_FORMAT_EXTENSIBLE form whose real format tag is in a sub-format GUID.
func readFmt(r io.Reader, size int64) (wavFormat, error) {
	if size < 16 || size > maxFmtChunk {
		return wavFormat{}, malformed(fmt.Sprintf("fmt chunk of %d bytes", size))
	}
	var b [40]byte
	n := min(size, int64(len(b)))
	if _, err := io.ReadFull(r, b[:n]); err != nil {
		return wavFormat{}, malformed("truncated fmt chunk")
	}
	if err := skip(r, size-n+size&1); err != nil {
		return wavFormat{}, malformed("truncated fmt chunk")
	}
	f := wavFormat{
		tag:      binary.LittleEndian.Uint16(b[0:2]),
		channels: binary.LittleEndian.Uint16(b[2:4]),
		rate:     binary.LittleEndian.Uint32(b[4:8]),
		bits:     binary.LittleEndian.Uint16(b[14:16]),
	}
	blockAlign := binary.LittleEndian.Uint16(b[12:14])
	if f.tag == formatExtensible {
		if n < 40 {
			return wavFormat{}, malformed(fmt.Sprintf("extensible fmt chunk of %d bytes; want 40", size))
		}
		if [14]byte(b[26:40]) != ksdataformatTail {
			return wavFormat{}, unsupported("extensible WAV with a non-standard sub-format")
		}
		f.tag = binary.LittleEndian.Uint16(b[24:26])
	}
	if f.channels == 0 {
		return wavFormat{}, malformed("fmt chunk with zero channels")
	}
	if f.isPCM16Mono() && blockAlign != 2 {
		return wavFormat{}, malformed(fmt.Sprintf("16-bit mono with block align %d; want 2", blockAlign))
	}
	return f, nil
}

// readPCM16 reads size bytes of little-endian 16-bit samples. Unless the
// input's own length (sizeHint) backs the claim, the slice grows only as
// bytes arrive, so a header claiming gigabytes over a short input costs
// nothing.
func readPCM16(r io.Reader, size, sizeHint int64) ([]int16, error) {
	if size%2 != 0 {
		return nil, malformed(fmt.Sprintf("data chunk of %d bytes is not whole 16-bit samples", size))
	}
	if size > maxWAVData {
		return nil, unsupported(fmt.Sprintf("%d bytes of audio; want at most %d", size, maxWAVData))
	}
	var buf [4096]byte
	capacity := min(size, int64(len(buf))) / 2
	if sizeHint >= size {
		capacity = size / 2
	}
	samples := make([]int16, 0, capacity)
	for remaining := size; remaining > 0; {
		n := min(remaining, int64(len(buf)))
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return nil, malformed(fmt.Sprintf("data chunk truncated: %d of %d bytes", size-remaining, size))
		}
		for i := int64(0); i < n; i += 2 {
			samples = append(samples, int16(binary.LittleEndian.Uint16(buf[i:])))
		}
		remaining -= n
	}
	return samples, nil
}

// readMuLaw reads size bytes of G.711 μ-law and expands them to 16-bit
// samples, with the same allocation discipline as readPCM16.
func readMuLaw(r io.Reader, size, sizeHint int64) ([]int16, error) {
	if size > maxWAVData/2 {
		return nil, unsupported(fmt.Sprintf("%d bytes of audio; want at most %d", size, maxWAVData/2))
	}
	var buf [4096]byte
	capacity := min(size, int64(len(buf)))
	if sizeHint >= size {
		capacity = size
	}
	samples := make([]int16, 0, capacity)
	for remaining := size; remaining > 0; {
		n := min(remaining, int64(len(buf)))
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return nil, malformed(fmt.Sprintf("data chunk truncated: %d of %d bytes", size-remaining, size))
		}
		for _, b := range buf[:n] {
			samples = append(samples, g711.DecodeUlawFrame(b))
		}
		remaining -= n
	}
	return samples, nil
}

// skip discards size bytes without buffering them.
func skip(r io.Reader, size int64) error {
	n, err := io.CopyN(io.Discard, r, size)
	if n == size {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}
