package media

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestParseTelephoneEvent(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    TelephoneEvent
		wantErr error
	}{
		{"start of digit 5 at -10 dBm0", []byte{5, 10, 0x00, 0xA0}, TelephoneEvent{Event: 5, Volume: 10, Duration: 160}, nil},
		{"end packet of # carries the E bit", []byte{11, 0x80 | 7, 0x03, 0x20}, TelephoneEvent{Event: 11, End: true, Volume: 7, Duration: 800}, nil},
		{"reserved bit is ignored", []byte{1, 0x40 | 0x3F, 0xFF, 0xFF}, TelephoneEvent{Event: 1, Volume: 63, Duration: 65535}, nil},
		{"bytes after the first event are ignored", []byte{2, 0, 0, 1, 9, 9, 9, 9}, TelephoneEvent{Event: 2, Duration: 1}, nil},
		{"empty payload is short", nil, TelephoneEvent{}, ErrShortPacket},
		{"three bytes are short", []byte{1, 2, 3}, TelephoneEvent{}, ErrShortPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTelephoneEvent(tt.payload)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTelephoneEventKeyMapsRFC4733Codes(t *testing.T) {
	tests := []struct {
		event uint8
		key   byte
		ok    bool
	}{
		{0, '0', true}, {9, '9', true}, {10, '*', true}, {11, '#', true},
		{12, 'A', true}, {15, 'D', true},
		{16, 0, false}, // flash is not a key
		{255, 0, false},
	}
	for _, tt := range tests {
		key, ok := TelephoneEvent{Event: tt.event}.Key()
		if key != tt.key || ok != tt.ok {
			t.Errorf("event %d: key %q %v, want %q %v", tt.event, key, ok, tt.key, tt.ok)
		}
	}
}

func FuzzParseTelephoneEvent(f *testing.F) {
	f.Add([]byte{5, 10, 0, 160})
	f.Add([]byte{11, 0x8A, 3, 32})
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := ParseTelephoneEvent(payload)
		if len(payload) < 4 {
			if !errors.Is(err, ErrShortPacket) {
				t.Fatalf("%d bytes: error %v, want ErrShortPacket", len(payload), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%d bytes: unexpected error %v", len(payload), err)
		}
		if ev.Event != payload[0] || ev.End != (payload[1]&0x80 != 0) ||
			ev.Volume != payload[1]&0x3F || ev.Duration != binary.BigEndian.Uint16(payload[2:]) {
			t.Fatalf("%x parsed as %+v", payload[:4], ev)
		}
		if ev.Volume > 63 {
			t.Fatalf("volume %d out of range", ev.Volume)
		}
		if key, ok := ev.Key(); ok != (ev.Event < 16) || (ok && key == 0) {
			t.Fatalf("event %d: key %q %v", ev.Event, key, ok)
		}
	})
}
