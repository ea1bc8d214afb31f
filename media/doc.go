// Package media is hotline's media engine: the RTP side of every call leg.
//
// It owns
//   - RTP sessions (github.com/pion/rtp) with symmetric RTP (RFC 4961; the
//     "comedia" behaviour of latching onto the source the caller really
//     sends from, which gets through NAT), on either transport of
//     EngineConfig.Transport: TransportPortPerCall, the conventional layout,
//     gives every call leg its own even UDP port, socket and receive
//     goroutine and sends one sendto(2) per packet; TransportShared binds one
//     socket per pacer shard on the first even ports of the range, the pacer
//     writes each tick's packets in sendmmsg(2) batches and, at the start of
//     each tick, reads what its socket queued in recvmmsg(2) batches (the
//     socket is kept out of the Go runtime's poller, since nothing ever waits
//     on it), and a demultiplexer gives each datagram to its session by
//     source address and SSRC (shared.go has the rules, and what a shared
//     port cannot do that a port of its own can);
//   - G.711 µ-law and A-law (github.com/zaf/g711) through lookup tables into
//     caller-owned buffers, so encoding and decoding never allocate;
//   - RFC 4733 telephone-event detection, reported once per key press;
//   - the pacer: one shared loop per shard with a 10 ms tick that sends every
//     due 20 ms frame of every session; the legs of one call share a
//     shard. A goroutine and ticker per call does not scale (see
//     DESIGN.md, "Media engine"); one loop touching every stream in turn
//     does, and it is the single place where the sending strategy (one
//     syscall per packet, or batches on a shared socket) is chosen. A
//     stream's frames are due on its shard's ticks, so the lateness it
//     measures is the pacer's own delay, not the phase between the call's
//     start and the next tick;
//   - prompt playback: Play hands already-encoded clips to the pacer, which
//     copies one 160-byte frame per 20 ms into the packet; between prompts
//     the stream continues with encoded silence, so the caller never hears a
//     dead line (DOMAIN.md R3, R9, R10);
//   - Loop: hold and queue music played over and over without a gap, and
//     hand-over between playbacks without a silence frame (R3, R10);
//   - bridges: two anchored legs (caller and agent) relayed through the
//     server, frame by frame on each leg's own pacer slots, with a small
//     jitter buffer per direction, PCMU⇄PCMA transcoding and RFC 4733
//     telephone-event relay; a Play or Loop on a leg (a whisper) takes
//     priority over the relayed audio;
//   - feeding the speech analysers (package analysis, DOMAIN.md R9): the
//     received audio of a leg, decoded into a small ring, goes to its
//     LegAnalyser one frame per pacer slot, and a Conversation is ticked in
//     the same slot, with dead-air events on Session.SpeechEvents — no
//     goroutine, timer or allocation of its own (see analyse.go);
//   - RTP inactivity detection, so the call flow can end a leg whose far end
//     vanished (R7 allows ending the caller's leg on an RTP timeout).
//
// It knows nothing of SIP or of call flow: the SIP layer passes it the
// negotiated address and payload types through Session.Configure, and the
// call flow drives Play, Loop, Bridge, Digits and Inactive.
//
// Hot paths (sending a frame, receiving and parsing a packet, G.711 of a
// frame, relaying a bridged frame) allocate nothing per packet; the
// benchmarks beside them prove it with -benchmem.
package media
