package callflow

import "errors"

// Causes the flow's context is cancelled with; the record's hangup_by and
// reason follow from them.
var (
	// ErrCallerHungUp: the caller sent BYE (or CANCEL while ringing).
	ErrCallerHungUp = errors.New("caller hung up")
	// ErrRTPTimeout: no RTP from the caller for the inactivity timeout.
	ErrRTPTimeout = errors.New("rtp timeout")
	// ErrShutdown: the server is stopping.
	ErrShutdown = errors.New("shutdown")
	// ErrClosingTimeout: the caller stayed on the line past the closing
	// safety timeout (R7).
	ErrClosingTimeout = errors.New("closing timeout")
)
