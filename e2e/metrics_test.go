//go:build linux

package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// The naming bar: `promtool check metrics` on a live /metrics
// scrape reports nothing, no error and no lint warning (base units, _total
// on counters, HELP on every family). Agents are configured so the queue
// and agent families are in the scrape too.
func TestMetricsScrapePassesPromtoolCheckWithoutWarnings(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found on PATH: install Debian's prometheus package " +
			"(apt-get install -y --no-install-recommends prometheus); the README's test command does")
	}
	s := startServer(t, agentsYAML(""))
	res, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics answered %s", res.Status)
	}
	// The check must cover every kind of family the dashboard reads:
	// call flow, queue, agents, media, SIP, call log, runtime.
	for _, family := range []string{
		"hotline_calls_total", "hotline_answer_delay_seconds", "hotline_hangups_total",
		"hotline_queue_wait_seconds", "hotline_queue_calls_waiting", "hotline_agents",
		"hotline_agent_ring_attempts_total", "hotline_talk_seconds",
		"hotline_rtp_pacer_lateness_seconds", "hotline_sip_responses_total",
		"hotline_calllog_write_errors_total", "process_resident_memory_bytes",
	} {
		if !bytes.Contains(body, []byte("# TYPE "+family+" ")) {
			t.Errorf("scrape lacks the %s family", family)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
