//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The priority tests run in a child process: nice values stay with the
// threads that got them, and the test binary's own threads must keep theirs.
const priorityChild = "HOTLINE_PRIORITY_TEST"

func TestMain(m *testing.M) {
	if step := os.Getenv(priorityChild); step != "" {
		fmt.Print(priorityChildRun(step))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// priorityChildRun does one scenario in the child and returns what it saw:
// the outcome of raisePriority, then every thread's nice value.
func priorityChildRun(step string) string {
	start, err := threadNice(syscall.Gettid())
	if err != nil {
		return err.Error()
	}
	var out []string
	switch step {
	case "raise":
		_, err := raisePriority(-3)
		out = append(out, errString(err))
	case "keep-higher":
		_, err1 := raisePriority(-5)
		_, err2 := raisePriority(-3)
		out = append(out, errString(errors.Join(err1, err2)))
	case "unprivileged":
		if err := syscall.Setuid(65534); err != nil {
			return "setuid: " + err.Error()
		}
		_, err := raisePriority(-3)
		out = append(out, errString(err))
	}
	out = append(out, fmt.Sprint(start))
	// Threads the runtime starts from now on must inherit the priority.
	var started, release sync.WaitGroup
	release.Add(1)
	for range 4 {
		started.Add(1)
		go func() {
			runtime.LockOSThread()
			started.Done()
			release.Wait()
		}()
	}
	started.Wait()
	tids, err := threadIDs()
	if err != nil {
		return err.Error()
	}

	for _, tid := range tids {
		n, err := threadNice(tid)
		if err != nil {
			continue
		}
		out = append(out, fmt.Sprint(n))
	}
	release.Done()
	return strings.Join(out, " ")
}

func errString(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errNiceNotPermitted):
		return "not-permitted"
	default:
		return "error:" + err.Error()
	}
}

// runPriorityChild runs a scenario; it returns raisePriority's outcome, the
// nice value the child started at, and every thread's at the end.
func runPriorityChild(t *testing.T, step string) (outcome, start string, nices []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), priorityChild+"="+step)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) < 7 {
		t.Fatalf("child printed %q, want an outcome, its nice at start and at least five threads", out)
	}
	return f[0], f[1], f[2:]
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("raising a priority needs root (the test suite runs as root)")
	}
}

func TestRaisePriority(t *testing.T) {
	needRoot(t) // also to become an unprivileged user in a child
	for _, tc := range []struct {
		name, step, outcome string
		want                string // every thread's nice at the end; "" = as the child started
	}{
		{"covers every thread and those started later", "raise", "ok", "-3"},
		{"never lowers a priority (-5, then -3 asked)", "keep-higher", "ok", "-5"},
		{"says when not permitted and changes nothing", "unprivileged", "not-permitted", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outcome, start, nices := runPriorityChild(t, tc.step)
			if outcome != tc.outcome {
				t.Fatalf("raisePriority: %s, want %s", outcome, tc.outcome)
			}
			want := tc.want
			if want == "" {
				want = start
			}
			for i, n := range nices {
				if n != want {
					t.Fatalf("thread %d of %d at nice %s, want every one at %s (all: %v)", i+1, len(nices), n, want, nices)
				}
			}
		})
	}
}
