package media

import "errors"

var (
	// ErrNoPorts means every even port of the configured RTP range is taken
	// (or could not be bound). The SIP layer answers the offer with 503.
	ErrNoPorts = errors.New("media: no free RTP port in the configured range")
	// ErrClosed means the engine or session was closed.
	ErrClosed = errors.New("media: closed")
	// ErrBusy means a Play or Loop is already running on the session (only
	// one plays at a time), or, from Bridge, that a session is already a
	// leg of a bridge.
	ErrBusy = errors.New("media: session busy")
	// ErrUnsupportedCodec means a payload type other than PCMU (0) or PCMA (8).
	ErrUnsupportedCodec = errors.New("media: unsupported codec (want PCMU 0 or PCMA 8)")
	// ErrShortPacket means a packet or payload is shorter than its format
	// requires.
	ErrShortPacket = errors.New("media: packet too short")
	// ErrUnknownTransport means a transport name other than "per-call" or
	// "shared", or an EngineConfig.Transport value out of range.
	ErrUnknownTransport = errors.New("media: unknown transport")
)
