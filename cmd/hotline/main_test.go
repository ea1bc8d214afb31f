package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfigReportsEveryProblemWithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("language: fr\nring:\n  on: 1s\n  off: 4s\nanswer:\n  delay: 16s\nrtp:\n  port_min: 20000\n  port_max: 20000\nbogus: 1\n"), 0o644)
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", bad}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{bad + ":1: language:", bad + ":6: answer.delay:", bad + ":10: bogus: unknown key", bad + ":9: rtp.port_max: empty port range"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, errOut.String())
		}
	}

	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("language: en\nclosing:\n  safety_timeout: 10s\n"), 0o644)
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check-config", good}, &out, &errOut); code != 0 {
		t.Fatalf("good config: exit %d: %s", code, errOut.String())
	}
}

func TestCheckConfigRefusesAPromptThatIsNotUsableAudio(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hours.wav"), []byte("not a wav"), 0o644)
	cfg := filepath.Join(dir, "hotline.yaml")
	os.WriteFile(cfg, []byte("prompts:\n  hours: hours.wav\n"), 0o644)
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", cfg}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "hours.wav") {
		t.Fatalf("exit %d, output %q: want 1 naming the file", code, errOut.String())
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "hotline ") {
		t.Fatalf("version: exit %d, %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}
