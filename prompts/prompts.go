package prompts

import (
	"slices"
	"strconv"
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

// The queue (R10: a waiting caller always hears why and for how long).
// QueueWelcome says why on entry; Music plays between announcements, with
// QueueReassurance every so often; Position and EstimatedWait assemble the
// "how long" sentences from the fragments and Number. WhisperCall is played
// to the agent, followed by the queue name (see Catalogue.Render), before
// the caller is connected.
const (
	QueueWelcome            ID = "queue_welcome"               // 您好,现在坐席全忙,请您稍候,我们将尽快为您服务。
	QueueReassurance        ID = "queue_reassurance"           // 感谢您的耐心等待,您的来电对我们很重要,请继续稍候。
	QueuePositionFirst      ID = "queue_position_first"        // 您现在排在第一位。 / You are first in line.
	QueuePositionOne        ID = "queue_position_one"          // 您前面还有一位客户在等候。 / There is one caller ahead of you.
	QueuePositionPre        ID = "queue_position_pre"          // 您前面还有 / There are (then a number)
	QueuePositionPost       ID = "queue_position_post"         // 位客户在等候。 / callers ahead of you.
	QueueWaitOneMinute      ID = "queue_wait_one_minute"       // 预计等待时间约一分钟。 / ... about one minute.
	QueueWaitPre            ID = "queue_wait_pre"              // 预计等待时间约 / The expected waiting time is about (then a number)
	QueueWaitMinutes        ID = "queue_wait_minutes"          // 分钟。 / minutes.
	QueueWaitLessThanMinute ID = "queue_wait_less_than_minute" // 预计等待时间不到一分钟。
	QueueTimeout            ID = "queue_timeout"               // 非常抱歉,现在坐席仍然全忙,请您稍后再拨。
	QueueConnecting         ID = "queue_connecting"            // 正在为您接通客服人员,请稍候。
	WhisperCall             ID = "whisper_call"                // 您有一个来自热线的来电 / You have a hotline call from queue (then the queue name)
	HoldPre                 ID = "hold_pre"                    // 请您稍等 / Please hold for (then the promised time)
	HoldOneMinute           ID = "hold_one_minute"             // 一分钟。 / one minute.
	HoldMinutes             ID = "hold_minutes"                // 分钟。 / minutes. (after a number)
	HoldApology             ID = "hold_apology"                // 很抱歉让您久等了,请您再稍等片刻。 (R3, promise exceeded)
	TransferWait            ID = "transfer_wait"               // 正在为您转接,请稍候。 (R4)
	TransferFailed          ID = "transfer_failed"             // 很抱歉,转接没有成功,现在为您接回原来的客服。 (R4)
	// TransferWhisper, then the queue name, the caller's wait
	// (TransferWaitedPre, a number, QueueWaitMinutes; or
	// TransferWaitedUnderMinute) and TransferPressOne brief a transfer
	// target who must confirm with 1 before the caller is connected (R4).
	TransferWhisper           ID = "transfer_whisper"             // 这是一个转接来电,来自 / A transferred call from queue (then the queue name)
	TransferWaitedPre         ID = "transfer_waited_pre"          // 客户已等候 / The caller has waited (then a number, QueueWaitMinutes)
	TransferWaitedUnderMinute ID = "transfer_waited_under_minute" // 客户已等候不到一分钟。
	TransferPressOne          ID = "transfer_press_one"           // 接听请按1。 / Press 1 to take the call.
	AgentReady                ID = "agent_ready"                  // 您已进入就绪状态,可以接听来电。 (agent feature code *0)
	AgentNotReady             ID = "agent_not_ready"              // 您已进入示忙状态,暂停接听来电。
	// Music is the hold music: an instrumental loop, the same in every
	// language, whose end joins its start without a click, so a player may
	// repeat it for as long as the caller waits. Its length is whole frames.
	Music ID = "music"
)

// Number words, named "num_" and what they say: num_0 to num_19, the tens
// num_20 to num_90, num_100 (一百 / one hundred), num_hundred (百 /
// hundred, after another digit) and num_liang (两, the Mandarin two of
// counts; "two" in English). Catalogue.Number picks them; they are IDs
// like any other so operators can override them.
const (
	numHundred ID = "num_hundred"
	numLiang   ID = "num_liang"
)

// numberIDs lists the number words in the catalogue's order.
var numberIDs = func() []ID {
	var out []ID
	for n := 0; n < 20; n++ {
		out = append(out, numID(n))
	}
	for n := 20; n <= 100; n += 10 {
		out = append(out, numID(n))
	}
	return append(out, numHundred, numLiang)
}()

// numID names the recorded word for n, which must be 0–19, a ten, or 100.
func numID(n int) ID {
	return ID("num_" + strconv.Itoa(n))
}

// languageIndependent prompts have one built-in recording for every
// language.
func languageIndependent(id ID) bool {
	return id == Music
}

var ids = slices.Concat([]ID{
	GreetMorning, GreetNoon, GreetAfternoon, GreetEvening,
	Company, OfferHelp, Menu, Hours, InvalidChoice, NoAgent,
	ClosingAnythingElse, ClosingThanks,
	QueueWelcome, QueueReassurance, QueuePositionFirst, QueuePositionOne,
	QueuePositionPre, QueuePositionPost, QueueWaitOneMinute, QueueWaitPre,
	QueueWaitMinutes, QueueWaitLessThanMinute, QueueTimeout, QueueConnecting,
	WhisperCall, HoldPre, HoldOneMinute, HoldMinutes, HoldApology, TransferWait, TransferFailed,
	TransferWhisper, TransferWaitedPre, TransferWaitedUnderMinute, TransferPressOne, AgentReady, AgentNotReady, Music,
}, numberIDs)

// idIndex maps each ID to its place in ids; Get runs on every play, so it
// must not scan.
var idIndex = func() map[ID]int {
	m := make(map[ID]int, len(ids))
	for i, id := range ids {
		m[id] = i
	}
	return m
}()

// IDs lists every known prompt ID in a stable order. The slice is the
// caller's to keep.
func IDs() []ID {
	return slices.Clone(ids)
}

// Known reports whether id is a catalogue prompt.
func Known(id ID) bool {
	return index(id) >= 0
}

func index(id ID) int {
	if i, ok := idIndex[id]; ok {
		return i
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
	Source  string // "built-in:zh-CN", "espeak-ng:zh-CN" for a rendered company name or Render text, or the operator file path
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
