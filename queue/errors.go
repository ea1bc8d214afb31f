package queue

import "errors"

var (
	// ErrUnknownAgent is returned for a user that is not a configured agent;
	// the registrar or HTTP API should refuse the request (403/404).
	ErrUnknownAgent = errors.New("unknown agent")
	// ErrUnknownQueue is returned by Enqueue for a queue that is not
	// configured; the flow should treat it as a configuration error.
	ErrUnknownQueue = errors.New("unknown queue")
	// ErrLoggedOut is returned when a ready/not-ready change is asked of an
	// agent that is not logged in; the agent must register first.
	ErrLoggedOut = errors.New("agent logged out")
	// ErrInvalidConfig is returned by New when the configuration cannot be
	// served (duplicate names, unknown strategy, an agent in a missing queue).
	ErrInvalidConfig = errors.New("invalid queue configuration")
	// ErrAgentBusy is returned by Claim for an agent already ringing or on
	// a call: a transfer to them fails as busy (R4).
	ErrAgentBusy = errors.New("agent busy")
)
