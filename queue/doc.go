// Package queue owns the call-centre logic behind rules R1 (agents are rung
// for a bounded time, then the caller moves on) and R10 (callers are never
// left waiting without being told why and how long): queues of waiting
// callers, agents and their states, matching callers to agents, the outcome
// of ringing an agent, and the estimated wait.
//
// It knows nothing about SIP, media or SQL. The registrar, the agent's
// feature codes and the HTTP API change agent states through the Manager;
// each caller's flow goroutine joins a queue with Enqueue, receives Offers of
// reserved agents on its Entry, rings them over SIP itself and reports each
// Result back. Names and behaviour follow Asterisk app_queue (strategy,
// timeout, retry, wrapuptime, autopause) and FreeSWITCH mod_callcenter
// (max-no-answer, no-answer-delay-time, busy-delay-time, reject-delay-time,
// wrap-up-time).
//
// Every time is read from an injected Clock, and timed transitions (wrap-up,
// back-off delays, the retry-avoid window) only end when the owner calls
// Tick, so tests drive time explicitly and run in milliseconds. All methods
// are safe for concurrent use; the Manager holds one mutex and never blocks
// while holding it (offers and change notifications are non-blocking sends
// on buffered channels).
package queue
