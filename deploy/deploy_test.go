package deploy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	promDir       = "prometheus"
	rulesFile     = "prometheus/rules.yml"
	alertsFile    = "prometheus/alerts.yml"
	dashboardFile = "grafana/hotline.json"
)

// promtool returns the path of promtool, from Debian's prometheus package.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found on PATH: install Debian's prometheus package " +
			"(apt-get install -y --no-install-recommends prometheus); the README's test command does")
	}
	return p
}

// runPromtool runs promtool in dir and fails the test with its output if it
// exits non-zero.
func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestRuleFilesPassPromtoolCheck(t *testing.T) {
	out := runPromtool(t, promDir, "check", "rules", "rules.yml", "alerts.yml")
	if strings.Contains(out, "WARNING") {
		t.Fatalf("promtool check rules warns:\n%s", out)
	}
}

func TestScrapeConfigPassesPromtoolCheck(t *testing.T) {
	runPromtool(t, promDir, "check", "config", "prometheus.yml")
}

func TestRuleUnitTestsPass(t *testing.T) {
	out := runPromtool(t, promDir, "test", "rules", "rules_test.yml", "alerts_test.yml")
	if strings.Count(out, "SUCCESS") != 2 {
		t.Fatalf("promtool test rules did not report success for both files:\n%s", out)
	}
}

// ruleFile is the shape of a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
	For    string `yaml:"for"`
	Labels map[string]string
	Annot  map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T, path string) []rule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var rs []rule
	for _, g := range f.Groups {
		rs = append(rs, g.Rules...)
	}
	if len(rs) == 0 {
		t.Fatalf("%s defines no rules", path)
	}
	return rs
}

func recordNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, r := range loadRules(t, rulesFile) {
		names[r.Record] = true
	}
	return names
}

// ruleTests is the shape of a promtool unit test file.
type ruleTests struct {
	Tests []struct {
		Name      string `yaml:"name"`
		ExprTests []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
		AlertTests []struct {
			Alert     string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func loadRuleTests(t *testing.T, path string) ruleTests {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rt ruleTests
	if err := yaml.Unmarshal(b, &rt); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rt
}

func TestEveryRecordingRuleIsFollowedByAUnitTest(t *testing.T) {
	tested := map[string]bool{}
	for _, tc := range loadRuleTests(t, filepath.Join(promDir, "rules_test.yml")).Tests {
		for _, e := range tc.ExprTests {
			for _, n := range seriesNames(e.Expr) {
				tested[n] = true
			}
		}
	}
	for name := range recordNames(t) {
		if !tested[name] {
			t.Errorf("recording rule %s has no promql_expr_test in rules_test.yml", name)
		}
	}
}

func TestEveryAlertIsTestedFiringAndQuiet(t *testing.T) {
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range loadRuleTests(t, filepath.Join(promDir, "alerts_test.yml")).Tests {
		for _, a := range tc.AlertTests {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alert] = true
			} else {
				quiet[a.Alert] = true
			}
		}
	}
	for _, r := range loadRules(t, alertsFile) {
		if !firing[r.Alert] {
			t.Errorf("alert %s is never tested firing in alerts_test.yml", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("alert %s is never tested staying quiet in alerts_test.yml", r.Alert)
		}
	}
}

func TestAlertsCarryForSeverityAndRunbookAnnotations(t *testing.T) {
	for _, r := range loadRules(t, alertsFile) {
		if r.For == "" {
			t.Errorf("alert %s has no for: duration", r.Alert)
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("alert %s severity %q, want warning or critical", r.Alert, s)
		}
		if r.Annot["summary"] == "" || r.Annot["description"] == "" {
			t.Errorf("alert %s lacks a summary or description annotation", r.Alert)
		}
	}
}

// recordingRuleName is level:metric:operations with a hotline level.
var recordingRuleName = regexp.MustCompile(`^hotline:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$`)

func TestRecordingRulesFollowTheNamingConvention(t *testing.T) {
	for name := range recordNames(t) {
		if !recordingRuleName.MatchString(name) {
			t.Errorf("recording rule %q is not hotline:metric:operations", name)
		}
	}
}

// The rules' thresholds (three rings, short abandons) must be bucket edges
// of the histograms they read, or the ratio silently reads nothing.
func TestRuleThresholdsAreBucketEdgesTheServerExposes(t *testing.T) {
	live := liveMetrics(t)
	bucketMatch := regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*_bucket)\{([^}]*)\}`)
	leMatch := regexp.MustCompile(`le="([^"]+)"`)
	checked := 0
	for _, path := range []string{rulesFile, alertsFile} {
		for _, r := range loadRules(t, path) {
			for _, m := range bucketMatch.FindAllStringSubmatch(r.Expr, -1) {
				le := leMatch.FindStringSubmatch(m[2])
				if le == nil {
					continue
				}
				checked++
				if !live.edges[m[1]][le[1]] {
					t.Errorf("%s reads %s{le=%q}, but the server's edges are %v",
						r.Record+r.Alert, m[1], le[1], sortedKeys(live.edges[m[1]]))
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no le matcher found in the rules: the service level must read the three-ring bucket")
	}
}

func TestRulesReadOnlySeriesTheServerExposes(t *testing.T) {
	known := knownSeries(t)
	for _, path := range []string{rulesFile, alertsFile} {
		for _, r := range loadRules(t, path) {
			for _, n := range seriesNames(r.Expr) {
				if !known[n] {
					t.Errorf("%s: %s reads %s, which is neither a recording rule nor a series on /metrics", path, r.Record+r.Alert, n)
				}
			}
		}
	}
}

// dashboard is the part of the Grafana JSON model the tests read.
type dashboard struct {
	UID        string          `json:"uid"`
	Inputs     json.RawMessage `json:"__inputs"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Datasource  *datasource `json:"datasource"`
	Targets     []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s does not parse: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows, including collapsed rows' nested panels.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboardIsProvisionable(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "hotline-overview" {
		t.Errorf("uid %q, want the stable hotline-overview", d.UID)
	}
	if d.Inputs != nil {
		t.Error("dashboard has __inputs, which file provisioning does not substitute; use the datasource variable")
	}
	vars := map[string]int{}
	for i, v := range d.Templating.List {
		vars[v.Name] = i
	}
	i, ok := vars["datasource"]
	if !ok {
		t.Fatal("no datasource template variable")
	}
	if v := d.Templating.List[i]; v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		t.Errorf("datasource variable is type %q query %s, want type datasource query \"prometheus\"", v.Type, v.Query)
	}
	for name, query := range map[string]string{
		"queue":    "label_values(hotline_queue_calls_waiting, queue)",
		"instance": `label_values(up{job=\"hotline\"}, instance)`,
	} {
		i, ok := vars[name]
		if !ok {
			t.Errorf("no %s template variable", name)
			continue
		}
		v := d.Templating.List[i]
		if v.Type != "query" || !strings.Contains(string(v.Query), query) {
			t.Errorf("%s variable is type %q query %s, want a query variable on %s", name, v.Type, v.Query, query)
		}
		if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("%s variable does not query the datasource variable", name)
		}
	}
}

func TestDashboardPanelsAreDescribedAndUseTheDatasourceVariable(t *testing.T) {
	d := loadDashboard(t)
	ids := map[int]string{}
	rows := map[string]bool{}
	for _, p := range allPanels(d.Panels) {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if strings.TrimSpace(p.Description) == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
		if p.Type == "row" {
			rows[p.Title] = true
			continue
		}
		if p.Type == "text" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %q does not use the datasource variable", p.Title, tg.Expr)
			}
		}
	}
	for _, want := range []string{"Now", "Service", "Agents", "Conversation quality", "System"} {
		if !rows[want] {
			t.Errorf("dashboard lacks the %q row", want)
		}
	}
}

func TestDashboardReadsOnlySeriesThatExist(t *testing.T) {
	known := knownSeries(t)
	n := 0
	for _, p := range allPanels(loadDashboard(t).Panels) {
		for _, tg := range p.Targets {
			names := seriesNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q query %q names no series", p.Title, tg.Expr)
			}
			for _, name := range names {
				n++
				if !known[name] {
					t.Errorf("panel %q reads %s, which is neither a recording rule nor a series on /metrics", p.Title, name)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no series found in the dashboard's queries")
	}
}

// Each recording rule exists to feed a panel or an alert; one that feeds
// nothing is dead weight on every Prometheus that loads it.
func TestEveryRecordingRuleFeedsAPanelOrAnAlert(t *testing.T) {
	used := map[string]bool{}
	for _, p := range allPanels(loadDashboard(t).Panels) {
		for _, tg := range p.Targets {
			for _, n := range seriesNames(tg.Expr) {
				used[n] = true
			}
		}
	}
	for _, r := range loadRules(t, alertsFile) {
		for _, n := range seriesNames(r.Expr) {
			used[n] = true
		}
	}
	for name := range recordNames(t) {
		if !used[name] {
			t.Errorf("recording rule %s feeds no panel and no alert", name)
		}
	}
}

func TestSeriesNamesExtractsMetricsFromPromQL(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`hotline:queue_calls_waiting:sum{queue=~"$queue"}`, []string{"hotline:queue_calls_waiting:sum"}},
		{`rate(process_cpu_seconds_total{job="hotline",instance=~"$instance"}[$__rate_interval])`, []string{"process_cpu_seconds_total"}},
		{`sum by (le) (x_bucket{le="15", outcome="a b"}) * 60`, []string{"x_bucket"}},
		{`abs(a{i="x"} - 0.00496) < bool 1e-12`, []string{"a"}},
		{"a > 0\nunless on ()\n(sum(b{state=~\"ready|on_call\"}) > 0)", []string{"a", "b"}},
		{`sum by (party) (rate(h[5m])) / ignoring (party) group_left () (sum(rate(h[5m])) > 0)`, []string{"h"}},
		{`histogram_quantile(0.99, sum by (instance, le) (rate(p_bucket[5m])))`, []string{"p_bucket"}},
	}
	for _, tt := range tests {
		if got := seriesNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("seriesNames(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

var (
	stringLit  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	matchers   = regexp.MustCompile(`\{[^}]*\}`)
	ranges     = regexp.MustCompile(`\[[^\]]*\]`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	numbers    = regexp.MustCompile(`(^|[^a-zA-Z0-9_:])[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords   = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true, "Inf": true, "NaN": true,
	}
)

// seriesNames returns the metric names a PromQL expression reads, sorted
// and unique: identifiers that are not functions, keywords, label names or
// numbers. It is small rather than complete, and enough for the
// expressions shipped here; its own test pins what it handles.
func seriesNames(expr string) []string {
	s := stringLit.ReplaceAllString(expr, `""`)
	s = matchers.ReplaceAllString(s, " ")
	s = ranges.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	s = numbers.ReplaceAllString(s, "$1 ")
	seen := map[string]bool{}
	for _, loc := range identifier.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && s[loc[0]-1] == '$' {
			continue // a Grafana variable
		}
		if keywords[name] || strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue
		}
		seen[name] = true
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// knownSeries is every name a rule or panel may read: recording rules, the
// live server's series, and Prometheus's own up.
func knownSeries(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{"up": true}
	for n := range recordNames(t) {
		known[n] = true
	}
	for n := range liveMetrics(t).names {
		known[n] = true
	}
	return known
}

// scrape is what the tests learn from one /metrics scrape of the real
// server: sample names and each histogram's bucket edges.
type scrape struct {
	names map[string]bool
	edges map[string]map[string]bool // name_bucket -> le values
	err   error
}

var (
	liveOnce sync.Once
	live     scrape
)

// liveMetrics builds hotline, runs it on free ports with an agent
// configured (the queue and agent series need one), scrapes /metrics once
// and stops it by PID. The scrape is shared by every test of the package.
func liveMetrics(t *testing.T) scrape {
	t.Helper()
	liveOnce.Do(func() { live = scrapeServer() })
	if live.err != nil {
		t.Fatalf("scraping a real hotline: %v", live.err)
	}
	return live
}

func scrapeServer() scrape {
	dir, err := os.MkdirTemp("", "hotline-deploy-")
	if err != nil {
		return scrape{err: err}
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "hotline")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/hotline").CombinedOutput(); err != nil {
		return scrape{err: fmt.Errorf("go build ./cmd/hotline: %w\n%s", err, out)}
	}
	sipPort, err := freeUDPAndTCPPort()
	if err != nil {
		return scrape{err: err}
	}
	httpPort, err := freeUDPAndTCPPort()
	if err != nil {
		return scrape{err: err}
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	// No call is made, so the RTP range is never bound.
	cfg := fmt.Sprintf(`sip: {listen: "127.0.0.1:%d"}
http: {listen: %q}
rtp: {bind: 127.0.0.1, port_min: 41000, port_max: 41098}
database: {path: %q}
agents: [{user: "1001", password: "pw-1001-abcd"}]
`, sipPort, httpAddr, filepath.Join(dir, "hotline.db"))
	cfgPath := filepath.Join(dir, "hotline.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return scrape{err: err}
	}
	var log strings.Builder
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return scrape{err: err}
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			return scrape{err: fmt.Errorf("hotline exited at start:\n%s", log.String())}
		default:
		}
		if time.Now().After(deadline) {
			return scrape{err: fmt.Errorf("hotline not ready after 15 s:\n%s", log.String())}
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return scrape{err: err}
	}
	defer res.Body.Close()
	return parseExposition(res.Body)
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s`)

func parseExposition(r io.Reader) scrape {
	s := scrape{names: map[string]bool{}, edges: map[string]map[string]bool{}}
	le := regexp.MustCompile(`le="([^"]+)"`)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := sampleLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s.names[m[1]] = true
		if e := le.FindStringSubmatch(m[2]); e != nil && strings.HasSuffix(m[1], "_bucket") {
			if s.edges[m[1]] == nil {
				s.edges[m[1]] = map[string]bool{}
			}
			s.edges[m[1]][e[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		s.err = err
	} else if !s.names["hotline_queue_wait_seconds_bucket"] || !s.names["hotline_agents"] {
		s.err = fmt.Errorf("the scrape lacks the queue and agent series (%d names)", len(s.names))
	}
	return s
}

// freeUDPAndTCPPort finds a loopback port free on both UDP and TCP (SIP
// listens on both).
func freeUDPAndTCPPort() (int, error) {
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no loopback port free on both UDP and TCP")
}
