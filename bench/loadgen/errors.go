package main

import "errors"

var (
	// errMalformed is a SIP message, SDP body, WAV file or metrics text that
	// cannot be parsed.
	errMalformed = errors.New("malformed input")
	// errHotlineExited means the hotline process ended while the run still
	// needed it.
	errHotlineExited = errors.New("hotline exited")
	// errNotReady means hotline did not answer /readyz in time.
	errNotReady = errors.New("hotline not ready")
	// errUsage is a bad combination of flags.
	errUsage = errors.New("usage")
	// errUnsupportedAudio is a WAV file that is not 8 kHz mono 16-bit PCM or
	// G.711 mu-law.
	errUnsupportedAudio = errors.New("unsupported audio format")
)
