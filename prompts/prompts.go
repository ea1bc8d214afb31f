package prompts

import (
	"time"

	"github.com/zaf/g711"
)

// ID names a prompt. IDs are stable: configuration files name them to
// override audio, and call records log them.
type ID string

// The catalogue. The greeting of rule R2 is GreetX (by local time), Company
// and OfferHelp played back to back; the closing of rule R7 is
// ClosingAnythingElse then ClosingThanks.
const (
	GreetMorning        ID = "greet_morning"         // 早上好 / Good morning
	GreetNoon           ID = "greet_noon"            // 中午好 / Good afternoon (English has no noon greeting)
	GreetAfternoon      ID = "greet_afternoon"       // 下午好 / Good afternoon
	GreetEvening        ID = "greet_evening"         // 晚上好 / Good evening
	Company             ID = "company"               // the company name: 热线服务中心 / Hotline service centre
	OfferHelp           ID = "offer_help"            // 请问有什么可以帮您? / How may I help you?
	Menu                ID = "menu"                  // 重听请按1,营业时间请按2,结束通话请按0。
	Hours               ID = "hours"                 // 我们的服务时间是每天早上八点到晚上八点。
	InvalidChoice       ID = "invalid_choice"        // 对不起,您的输入有误。
	NoAgent             ID = "no_agent"              // 对不起,现在没有客服人员可以接听您的电话。
	ClosingAnythingElse ID = "closing_anything_else" // 请问您还有其他的问题吗? (R7)
	ClosingThanks       ID = "closing_thanks"        // 感谢您的来电,欢迎您随时来电。 (R7)
)

var ids = [...]ID{
	GreetMorning, GreetNoon, GreetAfternoon, GreetEvening,
	Company, OfferHelp, Menu, Hours, InvalidChoice, NoAgent,
	ClosingAnythingElse, ClosingThanks,
}

// IDs lists every known prompt ID in a stable order. The slice is the
// caller's to keep.
func IDs() []ID {
	out := make([]ID, len(ids))
	copy(out, ids[:])
	return out
}

// Known reports whether id is a catalogue prompt.
func Known(id ID) bool {
	return index(id) >= 0
}

func index(id ID) int {
	for i, v := range ids {
		if v == id {
			return i
		}
	}
	return -1
}

// FrameSize is the G.711 payload of one 20 ms frame at 8 kHz.
const FrameSize = 160

// Silence bytes of each law: the encoding of a zero sample. Padding with
// them means the tail of the last frame is inaudible.
const (
	silencePCMU = 0xFF
	silencePCMA = 0xD5
)

// RTP payload types of G.711 (RFC 3551 section 6, static assignments).
const (
	payloadTypePCMU = 0
	payloadTypePCMA = 8
)

// Audio is one prompt ready to play. It is shared by every call playing it:
// callers must not modify the slices.
type Audio struct {
	ID      ID
	Samples int    // 8 kHz samples of the original audio
	PCMU    []byte // μ-law, len is a multiple of FrameSize, last frame padded with μ-law silence (0xFF)
	PCMA    []byte // A-law, same length, padded with A-law silence (0xD5)
	Source  string // "built-in:zh-CN", "espeak-ng:zh-CN" for a rendered company name, or the operator file path
}

// Duration of the audio as played (whole frames).
func (a *Audio) Duration() time.Duration {
	return time.Duration(len(a.PCMU)) * time.Second / SampleRate
}

// Payload returns the encoded audio for RTP payload type 0 (PCMU) or 8
// (PCMA); nil for any other type.
func (a *Audio) Payload(payloadType uint8) []byte {
	switch payloadType {
	case payloadTypePCMU:
		return a.PCMU
	case payloadTypePCMA:
		return a.PCMA
	}
	return nil
}

// encode builds an Audio from 8 kHz samples: both laws, padded to whole
// frames. Both encodings share one allocation since they always live and
// die together.
func encode(id ID, samples []int16, source string) *Audio {
	frames := (len(samples) + FrameSize - 1) / FrameSize
	n := frames * FrameSize
	buf := make([]byte, 2*n)
	pcmu, pcma := buf[:n:n], buf[n:]
	for i, s := range samples {
		pcmu[i] = g711.EncodeUlawFrame(s)
		pcma[i] = g711.EncodeAlawFrame(s)
	}
	for i := len(samples); i < n; i++ {
		pcmu[i] = silencePCMU
		pcma[i] = silencePCMA
	}
	return &Audio{ID: id, Samples: len(samples), PCMU: pcmu, PCMA: pcma, Source: source}
}
