package sip

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// RFC 6026 section 7 keeps an INVITE transaction answered with a 2xx
// "Accepted" for 64*T1 (32 s): the server transaction absorbs
// retransmissions of the INVITE, the client transaction passes
// retransmissions of the 2xx to its user, which ACKs them again. In
// sipgo the state keeps the whole transaction for those 32 s, its
// request, last response, timers and channels with it, about 1.7 KiB;
// at 100 calls a second that is 3,200 calls' transactions, two on each
// bridged call. Hotline's legs do both duties themselves for less:
//   - a caller's INVITE answered with a 2xx is remembered as one 64-bit
//     key (answeredInvites), and a retransmission of it is absorbed
//     (Server.onInvite);
//   - the 2xx to our INVITE is ACKed again, from the leg's dialog, when
//     the phone retransmits it (Server.onStrayResponse).
//
// So sipgo's INVITE transactions end at the 2xx. The timers are
// process-wide variables; they are set before any transaction exists.
func init() {
	sip.Timer_L = 0
	sip.Timer_M = 0
}

// answeredInvites remembers the INVITEs hotline answered with a 2xx for
// at least 64*T1, the Accepted state's span (RFC 6026 section 7.1), in
// two generations: a key is dropped when the generation after its own
// is retired, 64*T1 to 128*T1 after it was added. A key is a hash of
// what identifies the INVITE's transaction (RFC 3261 section 17.2.3:
// the top Via's branch and sent-by) and the CSeq number, with the
// Call-ID: 8 bytes an answered call.
type answeredInvites struct {
	seed maphash.Seed

	mu          sync.Mutex
	current     map[uint64]struct{}
	previous    map[uint64]struct{}
	currentFrom time.Time
}

func newAnsweredInvites() *answeredInvites {
	return &answeredInvites{
		seed:     maphash.MakeSeed(),
		current:  make(map[uint64]struct{}),
		previous: make(map[uint64]struct{}),
	}
}

// inviteIdentity is what a retransmission of an INVITE repeats.
type inviteIdentity struct {
	callID, branch, host string
	port                 int
	seq                  uint32
}

// key is the INVITE's key; ok is false for a request without the
// headers a transaction is matched by (checkRequest refuses those).
func (a *answeredInvites) key(req *sip.Request) (uint64, bool) {
	if req == nil {
		return 0, false
	}
	via, cseq, callID := req.Via(), req.CSeq(), req.CallID()
	if via == nil || cseq == nil || callID == nil {
		return 0, false
	}
	branch, _ := via.Params.Get("branch")
	return maphash.Comparable(a.seed, inviteIdentity{
		callID: callID.Value(),
		branch: branch,
		host:   via.Host,
		port:   via.Port,
		seq:    cseq.SeqNo,
	}), true
}

// add remembers an INVITE answered with a 2xx at now.
func (a *answeredInvites) add(req *sip.Request, now time.Time) {
	k, ok := a.key(req)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.currentFrom) >= 64*sip.T1 {
		// The previous generation's keys are all older than 64*T1: its
		// map, emptied, takes the new keys.
		a.previous, a.current = a.current, a.previous
		clear(a.current)
		a.currentFrom = now
	}
	a.current[k] = struct{}{}
}

// has tells whether req repeats an INVITE answered with a 2xx.
func (a *answeredInvites) has(req *sip.Request) bool {
	k, ok := a.key(req)
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, cur := a.current[k]
	_, prev := a.previous[k]
	return cur || prev
}
