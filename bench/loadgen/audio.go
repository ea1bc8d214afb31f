package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zaf/g711"
)

// frameBytes is one 20 ms PCMU frame at 8 kHz.
const frameBytes = 160

// decodeWAV returns the µ-law bytes of an 8 kHz mono WAV file holding 16-bit
// PCM (format 1, encoded here) or G.711 µ-law (format 7, taken as is).
func decodeWAV(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF/WAVE file", errMalformed)
	}
	var (
		format, channels, bits uint16
		rate                   uint32
		haveFmt                bool
	)
	p := b[12:]
	for len(p) >= 8 {
		id, size := string(p[0:4]), binary.LittleEndian.Uint32(p[4:8])
		p = p[8:]
		if uint64(size) > uint64(len(p)) {
			if id == "data" {
				size = uint32(len(p)) // a truncated data chunk: use what is there
			} else {
				return nil, fmt.Errorf("%w: chunk %q of %d bytes with %d left", errMalformed, id, size, len(p))
			}
		}
		chunk := p[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", errMalformed, size)
			}
			format = binary.LittleEndian.Uint16(chunk[0:2])
			channels = binary.LittleEndian.Uint16(chunk[2:4])
			rate = binary.LittleEndian.Uint32(chunk[4:8])
			bits = binary.LittleEndian.Uint16(chunk[14:16])
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data before fmt", errMalformed)
			}
			if channels != 1 || rate != 8000 {
				return nil, fmt.Errorf("%w: %d channels at %d Hz (want mono 8 kHz)", errUnsupportedAudio, channels, rate)
			}
			switch {
			case format == 1 && bits == 16:
				out := make([]byte, len(chunk)/2)
				for i := range out {
					out[i] = g711.EncodeUlawFrame(int16(binary.LittleEndian.Uint16(chunk[2*i:])))
				}
				return out, nil
			case format == 7 && bits == 8:
				return append([]byte(nil), chunk...), nil
			}
			return nil, fmt.Errorf("%w: WAV format %d with %d bits", errUnsupportedAudio, format, bits)
		}
		// Chunks are padded to an even size.
		adv := int(size) + int(size&1)
		if adv > len(p) {
			break
		}
		p = p[adv:]
	}
	return nil, fmt.Errorf("%w: no data chunk", errMalformed)
}

// loadAudio returns the µ-law clip every call sends, padded to whole 20 ms
// frames: a WAV file, or every WAV file of a directory one after another.
// An empty path gives a synthetic voiced signal with a syllable rhythm, so
// the generator works without any file.
func loadAudio(path string) ([]byte, string, error) {
	if path == "" {
		return syntheticSpeech(30), "synthetic voiced syllables, 30 s", nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("audio: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.wav"))
		sort.Strings(files)
		if len(files) == 0 {
			return nil, "", fmt.Errorf("audio: no .wav file in %s", path)
		}
	}
	var clip []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, "", fmt.Errorf("audio: %w", err)
		}
		u, err := decodeWAV(b)
		if err != nil {
			return nil, "", fmt.Errorf("audio %s: %w", f, err)
		}
		clip = append(clip, u...)
	}
	clip = padFrames(clip)
	desc := fmt.Sprintf("%s (%d files, %.1f s)", path, len(files), float64(len(clip))/8000)
	if !st.IsDir() {
		desc = fmt.Sprintf("%s (%.1f s)", strings.TrimSpace(path), float64(len(clip))/8000)
	}
	return clip, desc, nil
}

// padFrames pads with µ-law silence (0xFF) to a whole number of frames, at
// least one.
func padFrames(clip []byte) []byte {
	for len(clip) == 0 || len(clip)%frameBytes != 0 {
		clip = append(clip, 0xFF)
	}
	return clip
}

// syntheticSpeech is a 150 Hz pulse train through two formants, its
// amplitude modulated at about 4 syllables a second with pauses, µ-law
// encoded: enough like speech that voice analysis does its real work.
func syntheticSpeech(seconds int) []byte {
	n := seconds * 8000
	out := make([]byte, 0, n)
	var y1, y2, z1, z2 float64
	for i := range n {
		t := float64(i) / 8000
		src := 0.0
		if i%53 == 0 { // ~150 Hz glottal pulses
			src = 1
		}
		// Two resonators (700 Hz and 1200 Hz).
		r1, w1 := 0.97, 2*math.Pi*700/8000
		y := src + 2*r1*math.Cos(w1)*y1 - r1*r1*y2
		y2, y1 = y1, y
		r2, w2 := 0.96, 2*math.Pi*1200/8000
		z := y + 2*r2*math.Cos(w2)*z1 - r2*r2*z2
		z2, z1 = z1, z
		env := math.Max(0, math.Sin(2*math.Pi*2*t)) // 4 syllables a second
		if int(t)%5 == 4 {
			env = 0 // a pause between utterances
		}
		out = append(out, g711.EncodeUlawFrame(int16(math.Max(-32000, math.Min(32000, 300*z*env)))))
	}
	return padFrames(out)
}
