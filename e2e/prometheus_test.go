//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// promServer is a real Prometheus scraping one hotline every second and
// evaluating the shipped rules every second.
type promServer struct {
	t    *testing.T
	addr string
}

// startPrometheus runs Debian's prometheus against s with deploy/prometheus
// rules.yml and alerts.yml loaded from the repository, and waits for
// /-/ready. It is stopped by PID (TERM, then KILL) when the test ends.
func startPrometheus(t *testing.T, s *server) *promServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found on PATH: install Debian's prometheus package (scripts/install-test-deps.sh does)")
	}
	var rules []string
	for _, f := range []string{"rules.yml", "alerts.yml"} {
		p, err := filepath.Abs(filepath.Join("..", "deploy", "prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, strconv.Quote(p))
	}
	dir := t.TempDir()
	// The same job name as deploy/prometheus/prometheus.yml: the rules and
	// the dashboard select job="hotline".
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: hotline
    static_configs:
      - targets: [%q]
        labels: {instance: e2e}
`, strings.Join(rules, ", "), s.httpAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &promServer{t: t, addr: fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))}
	log := &lockedBuffer{}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.addr)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + p.addr + "/-/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited at start:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promSample is one element of an instant vector result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query through /api/v1/query. It returns the
// samples, or an error when Prometheus rejects or fails the query.
func (p *promServer) query(expr string) ([]promSample, error) {
	res, err := http.PostForm("http://"+p.addr+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %s: decoding the answer: %w", expr, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s: %s", expr, body.ErrorType, body.Error)
	}
	switch body.Data.ResultType {
	case "vector":
		var v []promSample
		if err := json.Unmarshal(body.Data.Result, &v); err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		return v, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(body.Data.Result, &v); err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		return []promSample{{Value: v}}, nil
	default:
		return nil, fmt.Errorf("query %s: result type %s, want an instant vector", expr, body.Data.ResultType)
	}
}

// scalar runs expr and returns its single value; ok is false with no sample.
func (p *promServer) scalar(expr string) (v float64, ok bool) {
	p.t.Helper()
	samples, err := p.query(expr)
	if err != nil {
		p.t.Fatal(err)
	}
	if len(samples) == 0 {
		return 0, false
	}
	if len(samples) > 1 {
		p.t.Fatalf("query %s: %d samples, want one", expr, len(samples))
	}
	s, _ := samples[0].Value[1].(string)
	v, err = strconv.ParseFloat(s, 64)
	if err != nil {
		p.t.Fatalf("query %s: value %q: %v", expr, s, err)
	}
	return v, true
}

// dashboardTarget is one panel query of deploy/grafana/hotline.json.
type dashboardTarget struct {
	panelID int
	panel   string
	expr    string
}

// dashboardTargets reads every target expression of every panel, rows'
// nested panels included.
func dashboardTargets(t *testing.T) []dashboardTarget {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "hotline.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("hotline.json: %v", err)
	}
	var out []dashboardTarget
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, r := range ps {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("hotline.json panel: %v", err)
			}
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					out = append(out, dashboardTarget{p.ID, p.Title, tg.Expr})
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaVars stands in for the dashboard's template variables: every
// queue and node ("All"), and a rate interval of a minute (four scrapes
// at 1 s is Grafana's floor; a minute smooths the burst).
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m",
	"${__rate_interval}", "1m",
	"$__interval", "1m",
	"${queue}", ".*",
	"$queue", ".*",
	"${instance}", ".*",
	"$instance", ".*",
)

// The supervisors' view end to end (issue 6): a real Prometheus scrapes a
// real hotline while sipp callers and a baresip agent produce answered,
// abandoned and short-abandoned calls. Every dashboard expression must be
// a query Prometheus accepts, the core panels must show data, and the
// service level and abandon rate Prometheus computes must equal the ones
// the call log (R6) gives for the same calls.
func TestPrometheusEvaluatesTheDashboardOverACallBurst(t *testing.T) {
	t.Parallel()
	// wrap_up 1 s so the one agent takes the next caller soon (the
	// default is 10 s); short_abandon stays at its default 5 s.
	s := startServer(t, "language: en\n"+agentsYAML(`queues:
  - {name: support, on_no_agents: wait, wrap_up: 1s}
`))
	prom := startPrometheus(t, s)

	dir := t.TempDir()
	agentMic := filepath.Join(dir, "agent-1khz.wav")
	writeToneWAV(t, agentMic, 1000, 60)
	startAgent(t, s, agentOpts{user: "1001", password: "alice-secret-1", autoAnswer: true, mic: agentMic, slot: 0})
	s.waitAgentState("1001", "ready", 10*time.Second)

	earPort := s.rtpMin + 180
	listenEar(t, earPort).speak(t, 600)
	sc := scenario(t, dir, "caller_hangs_up.xml", hangsUp{Ear: earPort, Codecs: "0"})
	call := func(holdMS int) record {
		t.Helper()
		run := runSipp(t, s, sc, 40*time.Second, "-d", strconv.Itoa(holdMS))
		if run.Exit != 0 {
			t.Fatalf("sipp exit %d: %v\n%s", run.Exit, run.firstLines(), run.Output)
		}
		return s.waitRecord(run.find(t, true, "INVITE").header("Call-ID"))
	}

	// The burst. The en greeting plays before the caller joins the queue;
	// sipp's -d counts from the answer.
	var burst []record
	// Two callers the agent answers, one after the other (the agent takes
	// one call at a time): the greeting, then a few seconds talking.
	for range 2 {
		r := call(10000)
		if r.QueueResult != "answered" || r.Agent != "1001" {
			t.Fatalf("record queue result %q agent %q, want answered by 1001", r.QueueResult, r.Agent)
		}
		burst = append(burst, r)
		s.waitAgentState("1001", "ready", 10*time.Second)
	}
	// Nobody free: the next callers wait in the queue until they hang up.
	s.setAgent(t, "1001", "not-ready")
	// An abandon: the caller hangs up 15 s after the answer, well past the
	// 5 s short-abandon line once in the queue.
	const abandonAfterMS = 15000
	r := call(abandonAfterMS)
	if r.QueueResult != "abandoned" || r.QueueWaitMS <= 5000 {
		t.Fatalf("record queue result %q wait %d ms, want abandoned after more than 5 s", r.QueueResult, r.QueueWaitMS)
	}
	burst = append(burst, r)
	// A short abandon, left out of service level and abandon rate: the
	// caller hangs up ~2 s after joining the queue. When the caller joins
	// (after the greeting) is measured on the abandon just made.
	joinMS := abandonAfterMS - int(r.QueueWaitMS)
	if r = call(joinMS + 2000); r.QueueResult != "short_abandoned" || r.QueueWaitMS >= 5000 {
		t.Fatalf("record queue result %q wait %d ms, want short_abandoned within 5 s", r.QueueResult, r.QueueWaitMS)
	}
	burst = append(burst, r)

	// What the call log says. Offered = answered + abandoned + timeout +
	// no_agents (deploy/README.md); answered within three rings = waited
	// at most 15 s, the le="15" bucket.
	var queued, offered, answeredIn15, abandoned float64
	for _, r := range s.calls() {
		if r.Queue != "support" {
			continue
		}
		queued++
		switch r.QueueResult {
		case "answered":
			offered++
			if r.QueueWaitMS <= 15000 {
				answeredIn15++
			}
		case "abandoned":
			offered++
			abandoned++
		case "timeout", "no_agents":
			offered++
		}
	}
	if queued != float64(len(burst)) || offered != 3 {
		t.Fatalf("call log holds %v queued calls, %v offered; want the burst's %d and 3", queued, offered, len(burst))
	}
	wantSL, wantAbandon := answeredIn15/offered, abandoned/offered
	t.Logf("call log: %v queued, %v offered, service level %v, abandon rate %v", queued, offered, wantSL, wantAbandon)

	// Wait until Prometheus has scraped every finished wait, then a few
	// evaluation intervals so the recording rules have seen that scrape.
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, ok := prom.scalar(`sum(hotline_queue_wait_seconds_count{job="hotline",queue="support"})`)
		if ok && v == queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus counts %v queue waits after 20 s, the call log %v", v, queued)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(4 * time.Second)

	// Exact figures over the whole burst. increase() over a window longer
	// than the server has lived sees every wait: each counter starts at 0
	// in the first scrape, so Prometheus does not extrapolate before it,
	// and the increase is the counter's whole growth (only the end is
	// extrapolated, by the same factor for every series, which a ratio
	// cancels). So these ratios must equal the call log's, not merely come
	// close.
	const tolerance = 1e-9
	exact := map[string]float64{
		`sum(increase(hotline_queue_wait_seconds_bucket{queue="support",outcome="answered",le="15"}[5m])) / sum(increase(hotline_queue_wait_seconds_count{queue="support",outcome=~"answered|abandoned|timeout|no_agents"}[5m]))`: wantSL,
		`sum(increase(hotline_queue_wait_seconds_count{queue="support",outcome="abandoned"}[5m])) / sum(increase(hotline_queue_wait_seconds_count{queue="support",outcome=~"answered|abandoned|timeout|no_agents"}[5m]))`:         wantAbandon,
		// The recording rules the panels read: rate[5m] ratios, for the
		// same reason equal to the call log while the whole burst is in
		// the window (the test runs well under 5 minutes).
		`hotline:queue_service_level:ratio_rate5m{queue="support"}`: wantSL,
		`hotline:queue_abandon:ratio_rate5m{queue="support"}`:       wantAbandon,
		`hotline:queue_short_abandon:ratio_rate5m{queue="support"}`: 1 / queued,
	}
	for expr, want := range exact {
		got, ok := prom.scalar(expr)
		if !ok {
			t.Errorf("%s: no data, want %v from the call log", expr, want)
			continue
		}
		if math.Abs(got-want) > tolerance {
			t.Errorf("%s = %v, the call log says %v", expr, got, want)
		}
	}

	// Every dashboard expression, with the variables set to All.
	core := map[string]bool{
		"Service level":             true,
		"Abandon rate":              true,
		"Queue outcomes":            true,
		"Finished calls by outcome": true,
		"Agents by state":           true,
		"Pacer lateness p99":        true,
		"Nodes up":                  true,
	}
	coreHasData := map[string]bool{}
	var withData, empty []string
	targets := dashboardTargets(t)
	if len(targets) < 30 {
		t.Fatalf("read %d panel targets from hotline.json, want the whole dashboard", len(targets))
	}
	for _, tg := range targets {
		expr := grafanaVars.Replace(tg.expr)
		if strings.Contains(expr, "$") {
			t.Errorf("panel %d %q: variable left unsubstituted in %s", tg.panelID, tg.panel, expr)
			continue
		}
		samples, err := prom.query(expr)
		if err != nil {
			t.Errorf("panel %d %q: %v", tg.panelID, tg.panel, err)
			continue
		}
		name := fmt.Sprintf("%s: %s", tg.panel, expr)
		if len(samples) > 0 {
			withData = append(withData, name)
			coreHasData[tg.panel] = true
		} else {
			empty = append(empty, name)
		}
	}
	for panel := range core {
		if !coreHasData[panel] {
			t.Errorf("core panel %q shows no data after the burst", panel)
		}
	}
	sort.Strings(withData)
	sort.Strings(empty)
	t.Logf("%d dashboard expressions returned data:\n  %s", len(withData), strings.Join(withData, "\n  "))
	t.Logf("%d returned no data (nothing of that kind in the burst):\n  %s", len(empty), strings.Join(empty, "\n  "))

	// The alert rules loaded and evaluated without errors.
	res, err := http.Get("http://" + prom.addr + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rules bytes.Buffer
	if _, err := rules.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rules.String(), `"health":"err"`) {
		t.Errorf("a rule failed to evaluate:\n%s", rules.String())
	}
	if !strings.Contains(rules.String(), "HotlineTransferFailuresHigh") || !strings.Contains(rules.String(), "hotline:queue_service_level:ratio_rate5m") {
		t.Error("Prometheus did not load deploy/prometheus rules.yml and alerts.yml")
	}
}
