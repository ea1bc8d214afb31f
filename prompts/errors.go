package prompts

import "errors"

var (
	// ErrUnsupportedWAV is returned for a well-formed WAV file whose audio
	// format is not accepted (not 16-bit PCM, not mono, not 8 or 16 kHz).
	// The operator must convert the file, e.g.
	// "sox in.wav -r 8000 -c 1 -b 16 out.wav".
	ErrUnsupportedWAV = errors.New("unsupported WAV format")
	// ErrMalformedWAV is returned for input that is not a RIFF/WAVE file or
	// whose chunks are truncated or inconsistent.
	ErrMalformedWAV = errors.New("malformed WAV file")
	// ErrUnknownPrompt is returned when an override names a prompt ID that is
	// not in the catalogue, which is almost always a typo in the config.
	ErrUnknownPrompt = errors.New("unknown prompt")
	// ErrUnknownLanguage is returned by Load for a language without a
	// built-in catalogue.
	ErrUnknownLanguage = errors.New("unknown prompt language")
)

// wavError carries a precise description of what is wrong with a WAV file
// while still matching its sentinel with errors.Is. Its message is the
// description alone, so callers can prefix the prompt and path without the
// sentinel's text repeating what the description already says.
type wavError struct {
	kind error
	msg  string
}

func (e *wavError) Error() string { return e.msg }
func (e *wavError) Unwrap() error { return e.kind }

func malformed(msg string) error   { return &wavError{kind: ErrMalformedWAV, msg: msg} }
func unsupported(msg string) error { return &wavError{kind: ErrUnsupportedWAV, msg: msg} }
