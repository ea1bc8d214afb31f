package main

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
)

// digestChallenge is the part of a WWW-Authenticate challenge the agents
// need (RFC 7616 section 3.3).
type digestChallenge struct {
	Realm, Nonce, Opaque, Algorithm, QOP string
}

// parseDigestChallenge reads a "Digest k=v, k="v"" challenge.
func parseDigestChallenge(v string) (digestChallenge, error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return digestChallenge{}, fmt.Errorf("%w: challenge scheme %q", errMalformed, scheme)
	}
	var c digestChallenge
	for rest != "" {
		var kv string
		// Split at the next comma outside quotes.
		inQuote, cut := false, len(rest)
		for i := 0; i < len(rest); i++ {
			if rest[i] == '"' {
				inQuote = !inQuote
			} else if rest[i] == ',' && !inQuote {
				cut = i
				break
			}
		}
		kv, rest = rest[:cut], strings.TrimPrefix(rest[cut:], ",")
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "realm":
			c.Realm = val
		case "nonce":
			c.Nonce = val
		case "opaque":
			c.Opaque = val
		case "algorithm":
			c.Algorithm = val
		case "qop":
			c.QOP = val
		}
	}
	if c.Nonce == "" {
		return digestChallenge{}, fmt.Errorf("%w: challenge without a nonce", errMalformed)
	}
	return c, nil
}

// offersAuth reports whether the challenge's qop list includes "auth".
func (c digestChallenge) offersAuth() bool {
	for _, q := range strings.Split(c.QOP, ",") {
		if strings.EqualFold(strings.TrimSpace(q), "auth") {
			return true
		}
	}
	return false
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// digestAuthorization answers an MD5 challenge with qop=auth (RFC 7616
// section 3.4.1; hotline insists on qop=auth for replay protection).
func digestAuthorization(c digestChallenge, method, uri, user, password, cnonce string, nc int) string {
	ha1 := md5hex(user + ":" + c.Realm + ":" + password)
	ha2 := md5hex(method + ":" + uri)
	ncs := fmt.Sprintf("%08x", nc)
	resp := md5hex(ha1 + ":" + c.Nonce + ":" + ncs + ":" + cnonce + ":auth:" + ha2)
	s := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, cnonce="%s", qop=auth, nc=%s`,
		user, c.Realm, c.Nonce, uri, resp, cnonce, ncs)
	if c.Opaque != "" {
		s += `, opaque="` + c.Opaque + `"`
	}
	return s
}
