// Package config owns hotline's typed configuration: the YAML schema, the
// built-in defaults (the embedded default.yaml), loading a file on top of
// those defaults, and validation.
//
// Every problem found in a file is reported at once, each with the file
// name, the line and the dotted key it concerns, so an operator can fix a
// file in one pass:
//
//	hotline.yaml:7: ring.on: want a duration like 1s, got number 1
//	hotline.yaml:12: rtp.port_min: port 10001 is odd; RTP uses even ports
//
// The package knows nothing about SIP or media: it checks that addresses,
// ports, durations and file names are well formed, not what they are used
// for. Prompt IDs are checked by the prompts package.
package config
