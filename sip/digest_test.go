package sip

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// TestDigestMatchesPublishedExamples checks H, HA1 and KD against the
// worked examples of RFC 7616 section 3.9.1 (SHA-256 and MD5) and RFC 2617
// section 3.5 (MD5).
func TestDigestMatchesPublishedExamples(t *testing.T) {
	const (
		rfc7616Nonce  = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		rfc7616CNonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	)
	tests := []struct {
		name, alg, user, realm, password, nonce, nc, cnonce, method, uri, want string
	}{
		{"RFC 7616 SHA-256 example", DigestSHA256, "Mufasa", "http-auth@example.org", "Circle of Life",
			rfc7616Nonce, "00000001", rfc7616CNonce, "GET", "/dir/index.html",
			"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{"RFC 7616 MD5 example", DigestMD5, "Mufasa", "http-auth@example.org", "Circle of Life",
			rfc7616Nonce, "00000001", rfc7616CNonce, "GET", "/dir/index.html",
			"8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 2617 MD5 example", DigestMD5, "Mufasa", "testrealm@host.com", "Circle Of Life",
			"dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "GET", "/dir/index.html",
			"6629fae49393a05397450978507c4ef1"},
		{"an absent algorithm means MD5", "", "Mufasa", "testrealm@host.com", "Circle Of Life",
			"dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "GET", "/dir/index.html",
			"6629fae49393a05397450978507c4ef1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ha1, err := DigestHA1(tt.alg, tt.user, tt.realm, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DigestResponse(tt.alg, ha1, tt.nonce, tt.nc, tt.cnonce, "auth", tt.method, tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("response %s, want %s", got, tt.want)
			}
			// An upper-case stored HA1 gives the same answer.
			if got, _ := DigestResponse(tt.alg, strings.ToUpper(ha1), tt.nonce, tt.nc, tt.cnonce, "auth", tt.method, tt.uri); got != tt.want {
				t.Fatalf("with upper-case HA1: %s", got)
			}
		})
	}
	if _, err := DigestHA1("SHA-512-256", "a", "b", "c"); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Fatalf("unsupported algorithm: %v", err)
	}
}

func TestParseDigestCredentials(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  DigestCredentials
		err   bool
	}{
		{
			name:  "the RFC 7616 SHA-256 example",
			value: `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			want: DigestCredentials{Username: "Mufasa", Realm: "http-auth@example.org", URI: "/dir/index.html", Algorithm: "SHA-256",
				Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", NC: "00000001", CNonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
				QOP: "auth", Response: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", Opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"},
		},
		{
			name:  "names are case-insensitive, tokens may be quoted, whitespace is free",
			value: "digest  USERNAME = \"1001\" ,Realm=\"hotline\",nonce=\"n\",uri=\"sip:hotline@10.0.0.1\",response=\"ab\",qop=\"auth\",nc=\"00000002\",cnonce=\"c\",Algorithm=\"MD5\"",
			want:  DigestCredentials{Username: "1001", Realm: "hotline", Nonce: "n", URI: "sip:hotline@10.0.0.1", Response: "ab", QOP: "auth", NC: "00000002", CNonce: "c", Algorithm: "MD5"},
		},
		{
			name:  "escaped quotes and commas inside quoted values",
			value: `Digest username="a\"b,c", realm="r", nonce="n", uri="u", response="x"`,
			want:  DigestCredentials{Username: `a"b,c`, Realm: "r", Nonce: "n", URI: "u", Response: "x"},
		},
		{
			name:  "an escaped backslash beside an escaped quote",
			value: `Digest username="a\\b\"", realm="r", nonce="n", uri="u", response="x"`,
			want:  DigestCredentials{Username: `a\b"`, Realm: "r", Nonce: "n", URI: "u", Response: "x"},
		},
		{
			name:  "unknown parameters are ignored, empty list elements allowed",
			value: `Digest username="a",, realm="r", nonce="n", uri="u", response="x", foo=bar, userhash=true`,
			want:  DigestCredentials{Username: "a", Realm: "r", Nonce: "n", URI: "u", Response: "x", UserHash: true},
		},
		{name: "another scheme", value: `Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`, err: true},
		{name: "nothing after the scheme", value: `Digest`, err: true},
		{name: "a parameter given twice", value: `Digest username="a", username="b", realm="r", nonce="n", uri="u", response="x"`, err: true},
		{name: "an unterminated quoted value", value: `Digest username="a, realm="r", nonce="n", uri="u", response="x`, err: true},
		{name: "a parameter without value", value: `Digest username, realm="r", nonce="n", uri="u", response="x"`, err: true},
		{name: "an empty token value", value: `Digest username=, realm="r", nonce="n", uri="u", response="x"`, err: true},
		{name: "no comma between parameters", value: `Digest username="a" realm="r", nonce="n", uri="u", response="x"`, err: true},
		{name: "the response missing", value: `Digest username="a", realm="r", nonce="n", uri="u"`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDigestCredentials(tt.value)
			if tt.err {
				if !errors.Is(err, ErrMalformedCredentials) {
					t.Fatalf("got %+v, %v; want ErrMalformedCredentials", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			again, err := ParseDigestCredentials(got.String())
			if err != nil || again != got {
				t.Fatalf("String does not read back: %q → %+v, %v", got.String(), again, err)
			}
		})
	}
}

// TestDigestCredentialsFromAnIndependentClient checks interoperation with
// github.com/icholy/digest, the implementation sipgo's client uses.
func TestDigestCredentialsFromAnIndependentClient(t *testing.T) {
	for _, alg := range []string{DigestSHA256, DigestMD5} {
		t.Run(alg, func(t *testing.T) {
			ch := DigestChallenge{Realm: "hotline", Nonce: "abc", Opaque: "op", Algorithm: alg}
			chal, err := digest.ParseChallenge(ch.String())
			if err != nil {
				t.Fatal(err)
			}
			cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:hotline.test", Username: "alice", Password: "s3cret", Count: 7})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseDigestCredentials(cred.String())
			if err != nil {
				t.Fatal(err)
			}
			if got.NC != "00000007" || got.QOP != "auth" || got.Opaque != "op" || !strings.EqualFold(got.Algorithm, alg) {
				t.Fatalf("parsed %+v from %q", got, cred.String())
			}
			ha1, _ := DigestHA1(alg, "alice", "hotline", "s3cret")
			want, _ := DigestResponse(alg, ha1, got.Nonce, got.NC, got.CNonce, got.QOP, "REGISTER", got.URI)
			if got.Response != want {
				t.Fatalf("response %s, want %s", got.Response, want)
			}
		})
	}
}

func TestNoncesCarryTheirIssueTimeAndCannotBeForged(t *testing.T) {
	m, err := newNonceMinter()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newNonceMinter()
	at := time.Date(2025, 3, 1, 9, 0, 0, 123, time.UTC)
	n := m.mint(at)
	if len(n) != 43 || strings.ContainsAny(n, `",\ `) {
		t.Fatalf("nonce %q needs quoting care", n)
	}
	if got, ok := m.issued(n); !ok || !got.Equal(at) {
		t.Fatalf("issued = %v, %v; want %v", got, ok, at)
	}
	if n2 := m.mint(at); n2 == n {
		t.Fatal("two nonces minted at the same time are equal")
	}
	if _, ok := other.issued(n); ok {
		t.Fatal("another process's secret accepted the nonce")
	}
	tampered := []byte(n)
	tampered[3] ^= 1
	for _, bad := range []string{string(tampered), "", n[:42], n + "A", "!!!!" + n[4:]} {
		if _, ok := m.issued(bad); ok {
			t.Fatalf("forged nonce %q accepted", bad)
		}
	}
}

func FuzzParseDigestCredentials(f *testing.F) {
	f.Add(`Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf", nc=00000001, cnonce="f2", qop=auth, response="75", opaque="FQ"`)
	f.Add(`Digest username="a\"b", realm="r", nonce="n", uri="u", response="x"`)
	f.Add(`Digest username=, realm`)
	f.Add(`Digest ,,,`)
	f.Add(`Digest username="\`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseDigestCredentials(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedCredentials) {
				t.Fatalf("error %v is not ErrMalformedCredentials", err)
			}
			return
		}
		again, err := ParseDigestCredentials(c.String())
		if err != nil {
			t.Fatalf("%q parsed, but its String %q does not: %v", s, c.String(), err)
		}
		if again != c {
			t.Fatalf("round trip changed %+v into %+v", c, again)
		}
	})
}

func BenchmarkParseDigestCredentials(b *testing.B) {
	v := `Digest username="1001", realm="hotline", nonce="AAAAAGfE2wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:hotline.test", response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", algorithm=SHA-256, cnonce="f2/wE4q7", opaque="0123456789abcdef", qop=auth, nc=00000001`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDigestCredentials(v); err != nil {
			b.Fatal(err)
		}
	}
}
