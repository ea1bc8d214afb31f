// Package sip is hotline's SIP front: the sipgo user agent and its UDP and
// TCP transports, inbound call legs (RFC 3261 UAS) and the legs hotline
// places to agents (UAC), their dialogs (kept as a few header values, not
// as sipgo's dialog sessions), in-dialog requests (ACK, BYE, re-INVITE,
// UPDATE, INFO, REFER, NOTIFY), SDP offer/answer for G.711 with
// RFC 4733 telephone-event, and the guard that answers malformed requests
// with 400 and drops unparsable datagrams.
//
// It knows nothing of queues, prompts or etiquette: it hands each new call
// to a handler as an *InboundCall and carries out what the call flow decides
// (ring, answer, reject, hang up).
package sip
