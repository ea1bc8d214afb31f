// Package analysis measures speech on call legs: voice activity, talk and
// silence time, speaking pace and, for a bridged call, overtalk, dead air
// and missing acknowledgements (DOMAIN.md R9).
//
// It owns the signal processing only. The media engine feeds it decoded
// 20 ms frames (160 linear samples at 8 kHz) from its receive and send
// paths; the call flow reads live state and events from it and writes its
// summaries into the call record. It knows nothing of RTP, SIP or clocks:
// time is counted in 20 ms frames, so every result is deterministic and
// tests need no clock.
//
// # Voice activity (LegAnalyser)
//
// Each frame is band-passed to 300–2500 Hz (two second-order IIR
// sections), where the energy of speech sits and where hum, hiss and most
// codec noise do not. The frame's mean power, in dB relative to a
// full-scale square wave (dBFS), is compared with an adaptive noise floor:
// the minimum frame power over the last three seconds (minimum statistics).
// The floor therefore follows a quieter line at once and a noisier one
// within three seconds, while the short dips between syllables keep it
// from climbing onto continuous speech. A frame is active when it is more
// than a margin (9 dB) above the floor and above an absolute minimum
// (-55 dBFS). Talk starts after a run of active frames (onset, 60 ms) and
// ends after a run of inactive ones (hangover, 300 ms); pauses shorter than
// the hangover are part of the talk.
//
// Live state (Talking) lags by the onset and hangover, as any detector
// with hysteresis must. The accounting does not: when talk is confirmed
// its first frames are credited to it, and when the hangover expires its
// frames are credited back to silence. Talk and silence totals are
// therefore exact to a frame with respect to the detector's decisions,
// and every frame's label is final a fixed SettleLag after it arrived.
// Frames reported missing through Silence (packet loss, silence
// suppression, comfort noise) count as silence and do not move the floor.
//
// # Speaking pace
//
// Pace is counted from syllable nuclei, without recognition: peaks of the
// band-limited intensity envelope (10 ms steps, 30 ms smoothing) that rise
// at least 3 dB above the preceding dip and fall 3 dB after, lie at least
// 100 ms after the previous nucleus, exceed the voice-activity threshold
// and are voiced (normalised autocorrelation of at least 0.5 at a pitch
// lag of 2.5–14 ms). Only nuclei inside talk count. Pace is nuclei per
// minute of talk time. Mandarin has one syllable per character, so this is
// characters per minute, the unit of R9 (about 120). For English, words per
// minute are approximated as syllables per minute divided by
// EnglishSyllablesPerWord (1.4).
//
// # Conversation measures (Conversation)
//
// A Conversation is ticked once per 20 ms slot after both legs of a
// bridged call (or the caller alone, for an IVR-only call) have been given
// their frame. It accounts overtalk, dead air (both parties silent while
// connected, not on hold and while no prompt of the server plays), the
// longest dead air, dead-air events past a threshold (default 8 s), the
// agent's longest silence while the caller talks at length, and the talk
// ratio. Tick returns DeadAirStarted the moment a dead air reaches the
// threshold, so the server can alert the agent live, and DeadAirEnded when
// it ends.
//
// Nothing in Frame, Silence or Tick allocates; the benchmarks in this
// package prove it and bench/README.md publishes the cost per frame and
// the accuracy on labelled speech.
package analysis
