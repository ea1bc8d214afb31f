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
//	hotline.yaml:31: agents[1].queues[0]: unknown queue "billing" (configured: support)
//
// List items are named by their index, counted from 0 as in Go and jq.
// Lists (agents, queues) in a file replace the built-in ones; each queue
// item starts from the per-queue defaults of NewQueue. Problems never quote
// a password, HA1 or API token (R12).
//
// The package knows nothing about SIP or media: it checks that addresses,
// ports, durations, file names and digest credentials are well formed, not
// how they are used. Prompt IDs are checked by the prompts package.
package config
