package media

import (
	"encoding/binary"
	"fmt"
)

// TelephoneEvent is one RFC 4733 §2.3 telephone-event payload.
type TelephoneEvent struct {
	// Event is the event code; 0-15 are the DTMF keys (§3.2).
	Event uint8
	// End is the E bit: the last packet(s) of the event (sent three times).
	End bool
	// Volume is the power level in -dBm0 (0-63), meaningful for DTMF.
	Volume uint8
	// Duration is the event's duration so far, in RTP timestamp units.
	Duration uint16
}

// telephoneEventSize is the fixed payload of one event (RFC 4733 §2.3).
const telephoneEventSize = 4

// ParseTelephoneEvent parses an RFC 4733 telephone-event payload. Only the
// first event is read: a payload is one event, longer ones come from RFC 2198
// redundancy, which is not negotiated. It never allocates on success.
func ParseTelephoneEvent(payload []byte) (TelephoneEvent, error) {
	if len(payload) < telephoneEventSize {
		return TelephoneEvent{}, fmt.Errorf("telephone-event of %d bytes, want %d: %w",
			len(payload), telephoneEventSize, ErrShortPacket)
	}
	//  0                   1                   2                   3
	//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
	// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
	// |     event     |E|R| volume    |          duration             |
	// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
	return TelephoneEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3F, // the R bit is ignored by receivers (§2.3)
		Duration: binary.BigEndian.Uint16(payload[2:4]),
	}, nil
}

// dtmfKeys maps RFC 4733 §3.2 event codes 0-15 to keys.
const dtmfKeys = "0123456789*#ABCD"

// Key returns the DTMF key of the event ('0'-'9', '*', '#', 'A'-'D') and
// false for events that are not keys (flash, tones, …).
func (ev TelephoneEvent) Key() (byte, bool) {
	if int(ev.Event) >= len(dtmfKeys) {
		return 0, false
	}
	return dtmfKeys[ev.Event], true
}
