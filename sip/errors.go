package sip

import "errors"

// SDP offer problems. The server maps them to responses: ErrNoSDP and
// ErrNoCommonCodec/ErrNoAudio to 488, ErrMalformedSDP to 400.
var (
	ErrNoSDP         = errors.New("sdp: no session description in the request")
	ErrMalformedSDP  = errors.New("sdp: malformed session description")
	ErrNoAudio       = errors.New("sdp: no usable audio stream offered")
	ErrNoCommonCodec = errors.New("sdp: no common codec (want PCMU or PCMA)")
)

// Call leg errors.
var (
	// ErrCallEnded means the caller hung up or cancelled before the action.
	ErrCallEnded = errors.New("sip: call ended by the caller")
	// ErrNotAnswered is returned by Hangup on a call never answered.
	ErrNotAnswered = errors.New("sip: call not answered")
	// ErrAlreadyFinal means a final response was already sent to the INVITE.
	ErrAlreadyFinal = errors.New("sip: final response already sent")
)
