package sip

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// Digest authentication errors.
var (
	// ErrMalformedCredentials means an Authorization header could not be
	// parsed as Digest credentials (RFC 7616 section 3.4).
	ErrMalformedCredentials = errors.New("sip: malformed digest credentials")
	// ErrUnsupportedAlgorithm means the credentials name a digest algorithm
	// hotline does not offer (RFC 8760: it offers SHA-256 and MD5).
	ErrUnsupportedAlgorithm = errors.New("sip: unsupported digest algorithm")
)

// Digest algorithm names as they appear in challenges and credentials
// (RFC 7616 section 3.3, RFC 8760 section 2.1).
const (
	DigestMD5    = "MD5"
	DigestSHA256 = "SHA-256"
)

// DigestCredentials are the parameters of an Authorization header with the
// Digest scheme (RFC 7616 section 3.4, RFC 3261 section 25.1
// "digest-response"). Values are unquoted.
type DigestCredentials struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm string // empty means MD5 (RFC 7616 section 3.3)
	CNonce    string
	Opaque    string
	QOP       string
	NC        string // nonce-count, 8 hex digits
	// UserHash is true when the client sent userhash=true (RFC 7616
	// section 3.4.4); the registrar does not support hashed usernames.
	UserHash bool
}

// ParseDigestCredentials parses the value of an Authorization (or
// Proxy-Authorization) header: `Digest name=value, name="quoted", ...`.
// Parameter names are case-insensitive; a parameter given twice, an
// unterminated quoted string or a missing username, realm, nonce, uri or
// response is ErrMalformedCredentials.
func ParseDigestCredentials(value string) (DigestCredentials, error) {
	var c DigestCredentials
	s := strings.TrimLeft(value, " \t")
	scheme, rest := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		scheme, rest = s[:i], s[i+1:]
	}
	if !strings.EqualFold(scheme, "Digest") {
		return c, fmt.Errorf("%w: scheme %q is not Digest", ErrMalformedCredentials, truncate(scheme, 16))
	}
	// Bits of the parameters seen, to refuse duplicates without a map.
	const (
		pUsername = 1 << iota
		pRealm
		pNonce
		pURI
		pResponse
		pAlgorithm
		pCNonce
		pOpaque
		pQOP
		pNC
		pUserHash
		required = pUsername | pRealm | pNonce | pURI | pResponse
	)
	var seen uint16
	err := parseAuthParams(rest, func(name, val string) error {
		var bit uint16
		switch {
		case strings.EqualFold(name, "username"):
			bit, c.Username = pUsername, val
		case strings.EqualFold(name, "realm"):
			bit, c.Realm = pRealm, val
		case strings.EqualFold(name, "nonce"):
			bit, c.Nonce = pNonce, val
		case strings.EqualFold(name, "uri"):
			bit, c.URI = pURI, val
		case strings.EqualFold(name, "response"):
			bit, c.Response = pResponse, val
		case strings.EqualFold(name, "algorithm"):
			bit, c.Algorithm = pAlgorithm, val
		case strings.EqualFold(name, "cnonce"):
			bit, c.CNonce = pCNonce, val
		case strings.EqualFold(name, "opaque"):
			bit, c.Opaque = pOpaque, val
		case strings.EqualFold(name, "qop"):
			bit, c.QOP = pQOP, val
		case strings.EqualFold(name, "nc"):
			bit, c.NC = pNC, val
		case strings.EqualFold(name, "userhash"):
			bit, c.UserHash = pUserHash, strings.EqualFold(val, "true")
		default:
			// Unknown parameters are ignored (RFC 7616 section 3.4:
			// auth-param).
			return nil
		}
		if seen&bit != 0 {
			return fmt.Errorf("%w: parameter %q given twice", ErrMalformedCredentials, truncate(name, 16))
		}
		seen |= bit
		return nil
	})
	if err != nil {
		return DigestCredentials{}, err
	}
	if seen&required != required {
		return DigestCredentials{}, fmt.Errorf("%w: username, realm, nonce, uri and response are required", ErrMalformedCredentials)
	}
	return c, nil
}

// parseAuthParams walks `name=token` and `name="quoted\"string"` pairs
// separated by commas (RFC 7235 section 2.1 auth-param, RFC 3261 section
// 25.1). Empty list elements are allowed (RFC 7230 section 7).
func parseAuthParams(s string, f func(name, val string) error) error {
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
		if i >= len(s) {
			return nil
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		name := s[start:i]
		if name == "" {
			return fmt.Errorf("%w: unexpected %q", ErrMalformedCredentials, s[i:i+1])
		}
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			return fmt.Errorf("%w: parameter %q has no value", ErrMalformedCredentials, truncate(name, 16))
		}
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var val string
		quoted := i < len(s) && s[i] == '"'
		if quoted {
			i++
			start := i
			escaped, closed := false, false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) {
					escaped = true
					i += 2
					continue
				}
				if s[i] == '"' {
					closed = true
					break
				}
				i++
			}
			if !closed {
				return fmt.Errorf("%w: unterminated quoted value of %q", ErrMalformedCredentials, truncate(name, 16))
			}
			val = s[start:i]
			i++ // the closing quote
			if escaped {
				val = unescapeQuoted(val)
			}
		} else {
			start := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			val = s[start:i]
			if val == "" {
				return fmt.Errorf("%w: parameter %q has no value", ErrMalformedCredentials, truncate(name, 16))
			}
		}
		if err := f(name, val); err != nil {
			return err
		}
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i < len(s) && s[i] != ',' {
			return fmt.Errorf("%w: expected a comma after %q", ErrMalformedCredentials, truncate(name, 16))
		}
	}
}

// unescapeQuoted resolves quoted-pairs (RFC 3261 section 25.1).
func unescapeQuoted(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// isTokenChar reports whether c may appear in an RFC 3261 section 25.1
// token (which also covers the RFC 7230 tchar set).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~#$&^|/:", c) >= 0
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// String formats the credentials as an Authorization header value, quoting
// what RFC 7616 section 3.4 quotes; ParseDigestCredentials reads it back.
func (c DigestCredentials) String() string {
	var b strings.Builder
	b.WriteString("Digest ")
	b.WriteString(`username=` + quote(c.Username))
	b.WriteString(`, realm=` + quote(c.Realm))
	b.WriteString(`, nonce=` + quote(c.Nonce))
	b.WriteString(`, uri=` + quote(c.URI))
	b.WriteString(`, response=` + quote(c.Response))
	if c.Algorithm != "" {
		b.WriteString(`, algorithm=` + tokenOrQuoted(c.Algorithm))
	}
	if c.CNonce != "" {
		b.WriteString(`, cnonce=` + quote(c.CNonce))
	}
	if c.Opaque != "" {
		b.WriteString(`, opaque=` + quote(c.Opaque))
	}
	if c.QOP != "" {
		b.WriteString(`, qop=` + tokenOrQuoted(c.QOP))
	}
	if c.NC != "" {
		b.WriteString(`, nc=` + tokenOrQuoted(c.NC))
	}
	if c.UserHash {
		b.WriteString(`, userhash=true`)
	}
	return b.String()
}

// quotedPairEscaper escapes what a quoted-string cannot hold as is (RFC
// 3261 section 25.1, quoted-pair). Built once: a replacer of single bytes
// is a 256-entry table, 6 KiB, which building one per quote cost every
// challenge and authorization header several times over.
var quotedPairEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func quote(s string) string {
	if !strings.ContainsAny(s, `\"`) {
		return `"` + s + `"`
	}
	return `"` + quotedPairEscaper.Replace(s) + `"`
}

func tokenOrQuoted(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return quote(s)
		}
	}
	return s
}

// DigestChallenge is one WWW-Authenticate challenge (RFC 7616 section 3.3).
type DigestChallenge struct {
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm string
	Stale     bool
}

// String formats the challenge as a WWW-Authenticate header value with
// qop="auth" (RFC 3261 section 22.4 and RFC 7616 section 3.3).
func (c DigestChallenge) String() string {
	s := `Digest realm=` + quote(c.Realm) + `, nonce=` + quote(c.Nonce)
	if c.Opaque != "" {
		s += `, opaque=` + quote(c.Opaque)
	}
	s += `, algorithm=` + c.Algorithm + `, qop="auth"`
	if c.Stale {
		s += `, stale=true`
	}
	return s
}

// newDigestHash returns the hash function H of an algorithm; "" is MD5
// (RFC 7616 section 3.3: the default when the parameter is absent).
func newDigestHash(algorithm string) (func() hash.Hash, error) {
	switch {
	case algorithm == "" || strings.EqualFold(algorithm, DigestMD5):
		return md5.New, nil
	case strings.EqualFold(algorithm, DigestSHA256):
		return sha256.New, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, truncate(algorithm, 24))
}

// hashHex is H(parts joined by ':') in lower-case hex.
func hashHex(newHash func() hash.Hash, parts ...string) string {
	h := newHash()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DigestHA1 computes HA1 = H(username:realm:password) in hex (RFC 7616
// section 3.4.2, non-session algorithms); operators may store it instead
// of the password.
func DigestHA1(algorithm, username, realm, password string) (string, error) {
	nh, err := newDigestHash(algorithm)
	if err != nil {
		return "", err
	}
	return hashHex(nh, username, realm, password), nil
}

// DigestResponse computes the request-digest for qop=auth (RFC 7616
// section 3.4.1): KD(HA1, nonce:nc:cnonce:qop:H(method:uri)), where
// KD(secret, data) = H(secret:data).
func DigestResponse(algorithm, ha1, nonce, nc, cnonce, qop, method, uri string) (string, error) {
	nh, err := newDigestHash(algorithm)
	if err != nil {
		return "", err
	}
	ha2 := hashHex(nh, method, uri)
	return hashHex(nh, strings.ToLower(ha1), nonce, nc, cnonce, qop, ha2), nil
}

// equalHex compares two hex digests in constant time, ignoring case.
func equalHex(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(a)), []byte(strings.ToLower(b))) == 1
}

// parseNC reads a nonce-count: 8 hex digits (RFC 7616 section 3.4); fewer
// digits are accepted, more are not.
func parseNC(s string) (uint32, bool) {
	if s == "" || len(s) > 8 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// nonceMinter issues nonces that carry their issue time and an HMAC under
// a per-process secret, so they are validated without server state
// (RFC 7616 section 3.3 suggests a time-stamp and private data). A nonce
// from a previous process, or a forged one, fails the HMAC.
type nonceMinter struct {
	secret [32]byte
	opaque string
}

const (
	nonceRandLen = 8
	nonceMACLen  = 16
	nonceRawLen  = 8 + nonceRandLen + nonceMACLen
)

func newNonceMinter() (*nonceMinter, error) {
	m := &nonceMinter{}
	if _, err := rand.Read(m.secret[:]); err != nil {
		return nil, fmt.Errorf("sip: nonce secret: %w", err)
	}
	mac := hmac.New(sha256.New, m.secret[:])
	mac.Write([]byte("opaque"))
	m.opaque = hex.EncodeToString(mac.Sum(nil)[:8])
	return m, nil
}

// mint returns base64url(issue time in Unix ns ‖ 8 random bytes ‖
// HMAC-SHA-256 of both, truncated to 16 bytes): 43 characters, none of
// which needs quoting.
func (m *nonceMinter) mint(now time.Time) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixNano()))
	rand.Read(raw[8 : 8+nonceRandLen])
	copy(raw[8+nonceRandLen:], m.mac(raw[:8+nonceRandLen]))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func (m *nonceMinter) mac(b []byte) []byte {
	mac := hmac.New(sha256.New, m.secret[:])
	mac.Write(b)
	return mac.Sum(nil)[:nonceMACLen]
}

// issued validates a nonce and returns its issue time; ok is false for a
// nonce this process did not mint.
func (m *nonceMinter) issued(nonce string) (time.Time, bool) {
	if base64.RawURLEncoding.DecodedLen(len(nonce)) != nonceRawLen {
		return time.Time{}, false
	}
	var raw [nonceRawLen]byte
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(nonce)); err != nil || n != nonceRawLen {
		return time.Time{}, false
	}
	if !hmac.Equal(raw[8+nonceRandLen:], m.mac(raw[:8+nonceRandLen])) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8]))), true
}
