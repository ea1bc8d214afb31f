// Package prompts owns the prompt catalogue: every recorded announcement the
// hotline can play, keyed by prompt ID, in one language per catalogue.
//
// The zh-CN (default) and en audio is embedded in the binary. It is rendered
// by render.sh from texts.tsv with espeak-ng and sox and committed as 8 kHz
// mono G.711 μ-law WAV, so builds need neither tool. The hold music is
// synthesised by the same script and shared by both languages. Operators may
// replace any prompt with their own WAV file (8 or 16 kHz mono 16-bit PCM),
// and the company name prompt may be rendered from the configured name at
// load.
//
// Queue announcements (rule R10) are sentences assembled from fragments and
// number words: Catalogue.Position and Catalogue.EstimatedWait return the
// IDs to play back to back, Catalogue.Number the words of a count. Text
// known only at run time, such as a queue name whispered to an agent, is
// spoken by Catalogue.Render at startup.
//
// Everything is encoded to G.711 μ-law (PCMU) and A-law (PCMA) once, at
// load, and padded to whole 20 ms frames, so playing a prompt is copying
// FrameSize-byte slices into RTP packets with no per-packet transcoding.
//
// The package knows nothing about calls, SIP or media: it hands out
// read-only byte slices and their durations.
package prompts
