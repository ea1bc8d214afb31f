package media

import "github.com/zaf/g711"

// G.711 through lookup tables built once from zaf/g711's per-sample
// functions. The whole-buffer helpers of zaf/g711 allocate their result and
// take little-endian bytes; the call paths here work on int16 frames in
// caller-owned buffers and must not allocate (DESIGN.md, "Media engine").
// The encode tables cost 128 KiB and replace a branchy bit search per sample
// with one load.
var (
	ulawToLinear [256]int16
	alawToLinear [256]int16
	linearToUlaw [65536]uint8
	linearToAlaw [65536]uint8

	// Direct µ-law⇄A-law transcoding for bridged legs that negotiated
	// different codecs: one load per byte instead of a decode and an encode.
	// Built from the tables above, so a relayed byte is exactly what
	// decoding and re-encoding it would give.
	ulawToAlaw [256]uint8
	alawToUlaw [256]uint8
)

// Encoded silence: what the pacer sends between prompts so the stream never
// stops (a stopped stream makes gateways and phones report dead air or
// start their own RTP timeout).
const (
	silencePCMU = 0xFF
	silencePCMA = 0xD5
)

func init() {
	for i := range 256 {
		ulawToLinear[i] = g711.DecodeUlawFrame(uint8(i))
		alawToLinear[i] = g711.DecodeAlawFrame(uint8(i))
	}
	for i := range 65536 {
		s := int16(uint16(i))
		linearToUlaw[i] = g711.EncodeUlawFrame(s)
		linearToAlaw[i] = g711.EncodeAlawFrame(s)
	}
	for i := range 256 {
		ulawToAlaw[i] = linearToAlaw[uint16(ulawToLinear[i])]
		alawToUlaw[i] = linearToUlaw[uint16(alawToLinear[i])]
	}
}

// transcodeTable returns the table that converts payload type from into
// payload type to, or nil when no conversion is needed.
func transcodeTable(from, to uint8) *[256]uint8 {
	switch {
	case from == to:
		return nil
	case from == PayloadPCMU && to == PayloadPCMA:
		return &ulawToAlaw
	case from == PayloadPCMA && to == PayloadPCMU:
		return &alawToUlaw
	}
	return nil
}

// EncodePCMU encodes linear 16-bit samples to G.711 µ-law into dst and
// returns the number of bytes written: min(len(dst), len(pcm)).
func EncodePCMU(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	for i, s := range pcm {
		dst[i] = linearToUlaw[uint16(s)]
	}
	return n
}

// EncodePCMA encodes linear 16-bit samples to G.711 A-law into dst and
// returns the number of bytes written: min(len(dst), len(pcm)).
func EncodePCMA(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	for i, s := range pcm {
		dst[i] = linearToAlaw[uint16(s)]
	}
	return n
}

// DecodePCMU decodes G.711 µ-law bytes to linear 16-bit samples into dst and
// returns the number of samples written: min(len(dst), len(src)).
func DecodePCMU(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = ulawToLinear[b]
	}
	return n
}

// DecodePCMA decodes G.711 A-law bytes to linear 16-bit samples into dst and
// returns the number of samples written: min(len(dst), len(src)).
func DecodePCMA(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = alawToLinear[b]
	}
	return n
}

// silenceByte is the encoded zero sample of a payload type.
func silenceByte(pt uint8) byte {
	if pt == PayloadPCMA {
		return silencePCMA
	}
	return silencePCMU
}
