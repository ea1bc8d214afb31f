package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hotline-dev/hotline/config"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and every
// error it returns must be a non-empty Problems matching ErrInvalid, with
// each problem naming the file.
func FuzzParse(f *testing.F) {
	f.Add(config.DefaultYAML())
	for _, s := range []string{
		"",
		"language: en\n",
		"ring:\n  on: 1s\n off: 4s\n",
		"menu:\n  options:\n    \"1\": {action: play, prompt: hours}\n    \"#\": {action: close}\n",
		"a: &a [*a]\n",
		"x: &x {y: *x}\nmenu: *x\n",
		"rtp: {port_min: 0x2710, port_max: 1e9}\n",
		"day_parts: {morning: \"25:61\"}\n",
		"--- \n...\n---\n",
		"? [a, b]\n: c\n",
		"prompts: {greeting: /dev/null, menu: .}\n",
		"timezone: ../../../etc/passwd\n",
		goodCallCentre,
		"agents: [{user: \"1\", ha1_md5: ABCDEF0123456789abcdef0123456789, queues: [support, support]}]\n",
		"agents: &a [*a]\nqueues: &q [{name: *q}]\n",
		"queues: []\nrouting: {default_queue: \"\"}\nmenu: {options: {\"1\": {action: queue, queue: x}}}\n",
		"registrar: {min_expires: 1ms, max_expires: 0s}\napi: {token: \"====\"}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.yaml", data)
		if err == nil {
			if c == nil || c.Location == nil {
				t.Fatalf("no error but config %+v", c)
			}
			return
		}
		if c != nil {
			t.Fatalf("config returned with error %v", err)
		}
		var ps config.Problems
		if !errors.As(err, &ps) || len(ps) == 0 || !errors.Is(err, config.ErrInvalid) {
			t.Fatalf("error %T %q is not a non-empty Problems", err, err)
		}
		for _, p := range ps {
			if p.File != "fuzz.yaml" || p.Line < 0 || !strings.HasPrefix(p.String(), "fuzz.yaml:") {
				t.Fatalf("malformed problem %#v", p)
			}
		}
	})
}
