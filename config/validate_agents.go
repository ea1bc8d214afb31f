package config

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ok reports whether none of keys (nor a section holding one) failed to
// decode.
func (d *decoder) ok(keys ...string) bool {
	for _, k := range keys {
		if d.isBad(k) {
			return false
		}
	}
	return true
}

// queueNames are the names of the configured queues, for checking the keys
// that refer to a queue.
type queueNames struct {
	names []string
	// known is false when a queue or its name failed to decode: the list
	// is then incomplete, and a reference to the broken queue must not be
	// reported as unknown on top of the decoding problem.
	known bool
}

// validateQueues checks the queues and returns their names.
func (d *decoder) validateQueues(c *Config) queueNames {
	qs := queueNames{known: d.ok("queues")}
	first := map[string]string{} // name → key of the queue that has it first
	for i := range c.Queues {
		q, p := &c.Queues[i], fmt.Sprintf("queues[%d]", i)
		if !d.ok(p) {
			qs.known = false
			continue
		}
		if !d.ok(p + ".name") {
			qs.known = false
		} else {
			name := p + ".name"
			switch f, dup := first[q.Name]; {
			case q.Name == "":
				d.report(name, nil, "required: a name like support")
			case dup:
				d.report(name, nil, "duplicate queue name %q (first at %s)", q.Name, f)
			default:
				first[q.Name] = name
				// An invalid name still counts as configured, so the
				// keys that refer to it are not reported twice.
				qs.names = append(qs.names, q.Name)
				if !validQueueName(q.Name) {
					d.report(name, nil, "%q is not a valid queue name: use a-z, 0-9, _ and - (it may become a metric label)", q.Name)
				}
			}
		}
		if d.ok(p+".strategy") && q.Strategy != StrategyLongestIdle && q.Strategy != StrategyRingAll {
			d.report(p+".strategy", nil, "unknown strategy %q (want %s or %s)", q.Strategy, StrategyLongestIdle, StrategyRingAll)
		}
		if d.ok(p+".ring_cycles") && (q.RingCycles < 1 || q.RingCycles > 3) {
			// R1: an agent's phone rings for at most three rings.
			d.report(p+".ring_cycles", nil, "must be 1..3 (R1: at most three rings), got %d", q.RingCycles)
		}
		if d.ok(p+".ring_back_attempts") && q.RingBackAttempts < 0 {
			d.report(p+".ring_back_attempts", nil, "must not be negative (0 = never ring back), got %d", q.RingBackAttempts)
		}
		if d.ok(p+".max_no_answer") && q.MaxNoAnswer < 0 {
			d.report(p+".max_no_answer", nil, "must not be negative (0 = never), got %d", q.MaxNoAnswer)
		}
		for _, t := range []struct {
			key      string
			v        time.Duration
			positive bool
		}{
			{"wrap_up", q.WrapUp, false},
			{"no_answer_delay", q.NoAnswerDelay, false},
			{"busy_delay", q.BusyDelay, false},
			{"reject_delay", q.RejectDelay, false},
			{"retry_avoid", q.RetryAvoid, false},
			{"short_abandon", q.ShortAbandon, false},
			// R10: a waiting caller is reassured periodically, so the
			// period cannot be zero.
			{"reassurance_interval", q.ReassuranceInterval, true},
			{"announce_interval", q.AnnounceInterval, false},
			{"max_wait", q.MaxWait, true},
			{"hold_promise", q.HoldPromise, true},
			{"hold_alert_interval", q.HoldAlertInterval, true},
			{"transfer_confirm_timeout", q.TransferConfirmTimeout, true},
		} {
			d.timer(p+"."+t.key, t.v, t.positive)
		}
		switch {
		case !d.ok(p + ".on_max_wait"), q.OnMaxWait == OnMaxWaitClose:
		case q.OnMaxWait == "callback":
			d.report(p+".on_max_wait", nil, "callback is not available yet (want %s)", OnMaxWaitClose)
		default:
			d.report(p+".on_max_wait", nil, "unknown value %q (want %s)", q.OnMaxWait, OnMaxWaitClose)
		}
		if d.ok(p+".on_no_agents") && q.OnNoAgents != OnNoAgentsClose && q.OnNoAgents != OnNoAgentsWait {
			d.report(p+".on_no_agents", nil, "unknown value %q (want %s or %s)", q.OnNoAgents, OnNoAgentsClose, OnNoAgentsWait)
		}
	}
	return qs
}

// timer checks a duration that must not be negative (positive: must be
// above zero).
func (d *decoder) timer(key string, v time.Duration, positive bool) {
	switch {
	case !d.ok(key):
	case positive && v <= 0:
		d.report(key, nil, "must be positive, got %s", v)
	case v < 0:
		d.report(key, nil, "must not be negative, got %s", v)
	}
}

// queueRef checks that key's value name refers to a configured queue.
func (d *decoder) queueRef(key string, alts []string, name string, qs queueNames) {
	if !qs.known || slices.Contains(qs.names, name) {
		return
	}
	if len(qs.names) == 0 {
		d.report(key, alts, "unknown queue %q (no queues are configured)", name)
		return
	}
	d.report(key, alts, "unknown queue %q (configured: %s)", name, strings.Join(qs.names, ", "))
}

// validateAgents checks the agents, fills in default display names and
// lower-cases HA1 values. Problems never quote a credential (R12).
func (d *decoder) validateAgents(c *Config, qs queueNames) {
	first := map[string]string{} // user → key of the agent that has it first
	realmOK := d.ok("registrar.realm") && c.Registrar.Realm != ""
	for i := range c.Agents {
		a, p := &c.Agents[i], fmt.Sprintf("agents[%d]", i)
		if !d.ok(p) {
			continue
		}
		userOK := d.ok(p + ".user")
		if userOK {
			user := p + ".user"
			switch f, dup := first[a.User]; {
			case a.User == "":
				userOK = false
				d.report(user, nil, "required: the SIP user name the softphone registers with")
			case dup:
				d.report(user, nil, "duplicate user %q (first at %s)", a.User, f)
			case !validUser(a.User):
				userOK = false
				d.report(user, nil, "%q is not a valid user name: use A-Z, a-z, 0-9, ., _ and -", a.User)
			default:
				first[a.User] = user
			}
		}
		if d.ok(p + ".name") {
			switch {
			case strings.ContainsFunc(a.Name, unicode.IsControl):
				d.report(p+".name", nil, "must not contain control characters")
			case a.Name == "":
				a.Name = a.User
			}
		}

		pw, md, sha := p+".password", p+".ha1_md5", p+".ha1_sha256"
		if d.ok(pw, md, sha) && a.Password == "" && a.HA1MD5 == "" && a.HA1SHA256 == "" {
			d.report(p, nil, "no credentials: set password, ha1_md5 or ha1_sha256")
		}
		// The digest check needs user, realm and password together;
		// an HA1 that does not match the password would make the agent
		// fail or pass authentication depending on the algorithm the
		// phone picks, so it is refused.
		canHash := userOK && realmOK && d.ok(pw) && a.Password != ""
		hash := func(key string, v *string, size int, sum func([]byte) string) {
			if !d.ok(key) || *v == "" {
				return
			}
			if !d.ha1(key, v, size) {
				return
			}
			if canHash && sum([]byte(a.User+":"+c.Registrar.Realm+":"+a.Password)) != *v {
				d.report(key, nil, "does not match password for realm %q (the HA1 depends on user, realm and password)", c.Registrar.Realm)
			}
		}
		hash(md, &a.HA1MD5, md5.Size, func(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) })
		hash(sha, &a.HA1SHA256, sha256.Size, func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) })

		d.algorithms(p+".algorithms", a.Algorithms, true)
		if d.ok(p + ".queues") {
			seen := map[string]string{}
			for j, name := range a.Queues {
				key := fmt.Sprintf("%s.queues[%d]", p, j)
				if !d.ok(key) {
					continue
				}
				if f, dup := seen[name]; dup {
					d.report(key, nil, "queue %q listed twice (first at %s)", name, f)
					continue
				}
				seen[name] = key
				if name == "" {
					d.report(key, nil, "empty queue name")
					continue
				}
				d.queueRef(key, nil, name, qs)
			}
		}
		if d.ok(p+".penalty") && a.Penalty < 0 {
			d.report(p+".penalty", nil, "must not be negative, got %d", a.Penalty)
		}
	}
}

// ha1 checks a hex HA1 of size bytes and lower-cases it. It never quotes
// the value.
func (d *decoder) ha1(key string, v *string, size int) bool {
	if len(*v) != 2*size {
		d.report(key, nil, "want %d hex digits, got %d characters", 2*size, utf8.RuneCountInString(*v))
		return false
	}
	if _, err := hex.DecodeString(*v); err != nil {
		d.report(key, nil, "want %d hex digits, got a character that is not one", 2*size)
		return false
	}
	*v = strings.ToLower(*v)
	return true
}

// validateRegistrar checks the registrar settings.
func (d *decoder) validateRegistrar(r *Registrar) {
	if d.ok("registrar.realm") {
		switch {
		case r.Realm == "":
			d.report("registrar.realm", nil, "empty realm; want a name like hotline")
		case strings.ContainsAny(r.Realm, `"\`) || strings.ContainsFunc(r.Realm, unicode.IsControl):
			// The realm is sent as a quoted string (RFC 3261 section 25.1);
			// many phones mishandle escapes inside it.
			d.report("registrar.realm", nil, "must not contain quotes, backslashes or control characters")
		}
	}
	d.algorithms("registrar.algorithms", r.Algorithms, false)
	d.timer("registrar.nonce_ttl", r.NonceTTL, true)
	minOK := d.expires("registrar.min_expires", r.MinExpires)
	maxOK := d.expires("registrar.max_expires", r.MaxExpires)
	if minOK && maxOK && r.MaxExpires < r.MinExpires {
		d.report("registrar.max_expires", []string{"registrar.min_expires"}, "max_expires %s is below min_expires %s", r.MaxExpires, r.MinExpires)
	}
	if d.ok("registrar.failure_limit") && r.FailureLimit < 1 {
		d.report("registrar.failure_limit", nil, "must be at least 1, got %d", r.FailureLimit)
	}
	d.timer("registrar.failure_window", r.FailureWindow, true)
	d.timer("registrar.block_for", r.BlockFor, true)
}

// expires checks a registration lifetime bound and reports whether it is
// usable.
func (d *decoder) expires(key string, v time.Duration) bool {
	switch {
	case !d.ok(key):
		return false
	case v <= 0:
		d.report(key, nil, "must be positive, got %s", v)
		return false
	case v%time.Second != 0:
		// Expires is a whole number of seconds (RFC 3261 section 20.19).
		d.report(key, nil, "must be whole seconds (SIP counts Expires in seconds), got %s", v)
		return false
	}
	return true
}

// validateToken checks the API bearer token without ever quoting it.
func (d *decoder) validateToken(key, token string) {
	switch n := utf8.RuneCountInString(token); {
	case token == "":
	case n < MinAPITokenLength:
		d.report(key, nil, "too short: %d characters, want at least %d (or empty to disable the API)", n, MinAPITokenLength)
	case !isBearerToken(token):
		d.report(key, nil, "may hold only A-Z, a-z, 0-9 and - . _ ~ + / with = padding at the end (RFC 6750 section 2.1)")
	}
}

// isBearerToken reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isBearerToken(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		if b := body[i]; !isAlnum(b) && !strings.ContainsRune("-._~+/", rune(b)) {
			return false
		}
	}
	return true
}

// validQueueName: [a-z0-9_-]+, safe as a metric label value and in logs.
func validQueueName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b >= 'a' && b <= 'z') && !isDigit(b) && b != '_' && b != '-' {
			return false
		}
	}
	return true
}

// validUser: [A-Za-z0-9._-]+, a subset of the SIP user part (RFC 3261
// section 25.1) that needs no escaping in a URI or a digest username.
func validUser(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !isAlnum(b) && b != '.' && b != '_' && b != '-' {
			return false
		}
	}
	return true
}

func isAlnum(b byte) bool {
	return isDigit(b) || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

// algorithms checks a digest algorithm list and normalises the spelling
// (RFC 8760 names: SHA-256, MD5).
func (d *decoder) algorithms(key string, algs []string, emptyOK bool) {
	if !d.ok(key) {
		return
	}
	if len(algs) == 0 {
		if !emptyOK {
			d.report(key, nil, "empty list; want [SHA-256, MD5] or a subset")
		}
		return
	}
	seen := map[string]bool{}
	for i := range algs {
		switch strings.ToUpper(algs[i]) {
		case "SHA-256":
			algs[i] = "SHA-256"
		case "MD5":
			algs[i] = "MD5"
		default:
			d.report(fmt.Sprintf("%s[%d]", key, i), nil, "unknown digest algorithm %q; want SHA-256 or MD5", algs[i])
			continue
		}
		if seen[algs[i]] {
			d.report(fmt.Sprintf("%s[%d]", key, i), nil, "%s listed twice", algs[i])
		}
		seen[algs[i]] = true
	}
}
