package config_test

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/config"
)

// HA1 values for realm "hotline", computed independently:
// md5("1002:hotline:s3cret-pass") and sha256 of the same.
const (
	ha1MD5For1002    = "4fe767e7884093efd1198988b7443bc4"
	ha1SHA256For1002 = "c63d7d95a125d306a6a11e73bc20170863065f5317d501353db427d1f3a35498"
)

func TestDefaultRoutesEveryCallToOneSupportQueueWithNoAgentsAndNoAPI(t *testing.T) {
	c := config.Default()
	if len(c.Agents) != 0 {
		t.Errorf("Agents = %+v, want none", c.Agents)
	}
	if c.Routing.DefaultQueue != "support" {
		t.Errorf("Routing.DefaultQueue = %q, want support", c.Routing.DefaultQueue)
	}
	if c.API.Token != "" {
		t.Errorf("API.Token is set by default; the API must be off until an operator sets a token")
	}
	if len(c.Queues) != 1 {
		t.Fatalf("Queues = %+v, want one", c.Queues)
	}
	// default.yaml documents the per-queue defaults by listing them all
	// for the support queue; they must be the values items take.
	if want := config.NewQueue("support"); c.Queues[0] != want {
		t.Errorf("default.yaml's support queue\n%+v\ndiffers from NewQueue(\"support\")\n%+v", c.Queues[0], want)
	}
	// R1: agents are rung for at most three rings by default.
	if c.Queues[0].RingCycles != 3 {
		t.Errorf("RingCycles = %d, want 3", c.Queues[0].RingCycles)
	}
}

const goodCallCentre = `registrar:
  realm: hotline
  max_expires: 30m
agents:
  - user: "1001"
    name: 王芳
    password: change-me
    queues: [support]
  - user: "1002"
    ha1_md5: ` + ha1MD5For1002 + `
    ha1_sha256: ` + ha1SHA256For1002 + `
    penalty: 2
queues:
  - name: support
    ring_cycles: 2
  - name: sales
    strategy: ring_all
    wrap_up: 0s
    max_no_answer: 0
    announce_interval: 0s
    on_no_agents: wait
    whisper: true
routing:
  default_queue: sales
api:
  token: 0123456789abcdef0123456789abcdef
menu:
  options:
    "1": {action: queue, queue: support}
    "2": {action: queue, queue: sales}
    "0": {action: close}
`

func TestGoodFileWithAgentsQueuesAndAMenuQueueAction(t *testing.T) {
	c, err := config.Parse("good.yaml", []byte(goodCallCentre))
	if err != nil {
		t.Fatal(err)
	}
	wantAgents := []config.Agent{
		{User: "1001", Name: "王芳", Password: "change-me", Queues: []string{"support"}},
		// No name: the user stands in.
		{User: "1002", Name: "1002", HA1MD5: ha1MD5For1002, HA1SHA256: ha1SHA256For1002, Penalty: 2},
	}
	if !reflect.DeepEqual(c.Agents, wantAgents) {
		t.Errorf("Agents =\n%+v\nwant\n%+v", c.Agents, wantAgents)
	}

	support := config.NewQueue("support")
	support.RingCycles = 2
	sales := config.NewQueue("sales")
	sales.Strategy = config.StrategyRingAll
	sales.WrapUp = 0
	sales.MaxNoAnswer = 0
	sales.AnnounceInterval = 0
	sales.OnNoAgents = config.OnNoAgentsWait
	sales.Whisper = true
	if want := []config.Queue{support, sales}; !reflect.DeepEqual(c.Queues, want) {
		t.Errorf("Queues =\n%+v\nwant\n%+v", c.Queues, want)
	}

	if c.Registrar.Realm != "hotline" || c.Registrar.MaxExpires != 30*time.Minute || c.Registrar.MinExpires != time.Minute {
		t.Errorf("Registrar = %+v; max_expires from the file, the rest default", c.Registrar)
	}
	if c.Routing.DefaultQueue != "sales" || c.API.Token != "0123456789abcdef0123456789abcdef" {
		t.Errorf("Routing = %+v, API token set = %t", c.Routing, c.API.Token != "")
	}
	wantOptions := map[string]config.MenuOption{
		"1": {Action: config.ActionQueue, Queue: "support"},
		"2": {Action: config.ActionQueue, Queue: "sales"},
		"0": {Action: config.ActionClose},
	}
	if !reflect.DeepEqual(c.Menu.Options, wantOptions) {
		t.Errorf("Menu.Options = %+v, want %+v", c.Menu.Options, wantOptions)
	}
}

func TestQueueByNameFindsConfiguredQueuesOnly(t *testing.T) {
	c, err := config.Parse("good.yaml", []byte(goodCallCentre))
	if err != nil {
		t.Fatal(err)
	}
	q, ok := c.QueueByName("sales")
	if !ok || q.Name != "sales" || q.Strategy != config.StrategyRingAll {
		t.Errorf("QueueByName(sales) = %+v, %t", q, ok)
	}
	if q, ok := c.QueueByName("billing"); ok || q != (config.Queue{}) {
		t.Errorf("QueueByName(billing) = %+v, %t; want zero, false", q, ok)
	}
}

func TestQueueIsTheConfiguredQueueItselfOrNil(t *testing.T) {
	c, err := config.Parse("good.yaml", []byte(goodCallCentre))
	if err != nil {
		t.Fatal(err)
	}
	q := c.Queue("sales")
	if q == nil || q.Name != "sales" || q.Strategy != config.StrategyRingAll {
		t.Fatalf("Queue(sales) = %+v", q)
	}
	if byName, _ := c.QueueByName("sales"); *q != byName {
		t.Errorf("Queue(sales) = %+v, QueueByName = %+v", *q, byName)
	}
	if c.Queue("sales") != q {
		t.Error("Queue(sales) returned a copy, not the configured queue")
	}
	if q := c.Queue("billing"); q != nil {
		t.Errorf("Queue(billing) = %+v, want nil", q)
	}
}

func TestAgentQueuesAreTheAgentsListOrEveryQueue(t *testing.T) {
	c, err := config.Parse("good.yaml", []byte(goodCallCentre))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.AgentQueues(c.Agents[0]); !reflect.DeepEqual(got, []string{"support"}) {
		t.Errorf("agent with queues [support] serves %v", got)
	}
	if got := c.AgentQueues(c.Agents[1]); !reflect.DeepEqual(got, []string{"support", "sales"}) {
		t.Errorf("agent without queues serves %v, want every queue in order", got)
	}
	// The result is the caller's: changing it must not change the config.
	c.AgentQueues(c.Agents[0])[0] = "x"
	if c.Agents[0].Queues[0] != "support" {
		t.Error("AgentQueues returned the agent's own slice")
	}
}

func TestAFileQueuesListReplacesTheDefaultAndItemsTakeQueueDefaults(t *testing.T) {
	c, err := config.Parse("q.yaml", []byte("queues:\n  - name: billing\nrouting:\n  default_queue: billing\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []config.Queue{config.NewQueue("billing")}; !reflect.DeepEqual(c.Queues, want) {
		t.Errorf("Queues = %+v, want only billing with the queue defaults", c.Queues)
	}
}

func TestNoQueuesIsAnIVROnlyHotline(t *testing.T) {
	c, err := config.Parse("ivr.yaml", []byte("queues: []\nrouting:\n  default_queue: \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Queues) != 0 || c.Routing.DefaultQueue != "" {
		t.Errorf("Queues = %+v, DefaultQueue = %q", c.Queues, c.Routing.DefaultQueue)
	}
}

func TestNullQueuesAndAgentsKeepTheirDefaults(t *testing.T) {
	c, err := config.Parse("n.yaml", []byte("agents:\nqueues:\nregistrar:\nrouting:\napi:\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := config.Default()
	if !reflect.DeepEqual(c.Queues, d.Queues) || len(c.Agents) != 0 || !reflect.DeepEqual(c.Registrar, d.Registrar) || c.Routing != d.Routing {
		t.Errorf("null sections changed the defaults: %+v", c)
	}
}

func TestHA1sMatchingThePasswordAreAcceptedInEitherCaseAndStoredInLowerCase(t *testing.T) {
	c, err := config.Parse("h.yaml", []byte("agents:\n  - user: \"1002\"\n    password: s3cret-pass\n"+
		"    ha1_md5: "+strings.ToUpper(ha1MD5For1002)+"\n    ha1_sha256: "+strings.ToUpper(ha1SHA256For1002)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Agents[0]; a.HA1MD5 != ha1MD5For1002 || a.HA1SHA256 != ha1SHA256For1002 {
		t.Errorf("HA1s = %q, %q; want lower case %q, %q", a.HA1MD5, a.HA1SHA256, ha1MD5For1002, ha1SHA256For1002)
	}
}

func TestCloneDeepCopiesAgentsAndQueues(t *testing.T) {
	c, err := config.Parse("good.yaml", []byte(goodCallCentre))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Clone()
	n.Agents[0].Queues[0] = "sales"
	n.Agents[1].User = "9999"
	n.Queues[0].RingCycles = 1
	n.Menu.Options["1"] = config.MenuOption{Action: config.ActionClose}
	if c.Agents[0].Queues[0] != "support" || c.Agents[1].User != "1002" || c.Queues[0].RingCycles != 2 || c.Menu.Options["1"].Action != config.ActionQueue {
		t.Errorf("changing a clone changed the original: %+v", c)
	}
}

func TestValidateChecksAgentsAndQueuesBuiltInCode(t *testing.T) {
	c := config.Default()
	c.Queues = append(c.Queues, config.NewQueue("sales"), config.Queue{Name: "Bad Name"})
	c.Agents = []config.Agent{
		{User: "1001", Password: "pw", Queues: []string{"sales", "billing"}},
		{User: "1001"},
	}
	c.Routing.DefaultQueue = "billing"
	c.API.Token = "short"
	assertProblems(t, c.Validate(), []string{
		`<built-in>:0: queues[2].name: "Bad Name" is not a valid queue name: use a-z, 0-9, _ and - (it may become a metric label)`,
		`<built-in>:0: queues[2].strategy: unknown strategy "" (want longest_idle or ring_all)`,
		"<built-in>:0: queues[2].ring_cycles: must be 1..3 (R1: at most three rings), got 0",
		"<built-in>:0: queues[2].reassurance_interval: must be positive, got 0s",
		"<built-in>:0: queues[2].max_wait: must be positive, got 0s",
		"<built-in>:0: queues[2].hold_promise: must be positive, got 0s",
		"<built-in>:0: queues[2].hold_alert_interval: must be positive, got 0s",
		"<built-in>:0: queues[2].transfer_confirm_timeout: must be positive, got 0s",
		`<built-in>:0: queues[2].on_max_wait: unknown value "" (want close)`,
		`<built-in>:0: queues[2].on_no_agents: unknown value "" (want close or wait)`,
		`<built-in>:0: agents[0].queues[1]: unknown queue "billing" (configured: support, sales, Bad Name)`,
		`<built-in>:0: agents[1].user: duplicate user "1001" (first at agents[0].user)`,
		"<built-in>:0: agents[1]: no credentials: set password, ha1_md5 or ha1_sha256",
		`<built-in>:0: routing.default_queue: unknown queue "billing" (configured: support, sales, Bad Name)`,
		"<built-in>:0: api.token: too short: 5 characters, want at least 16 (or empty to disable the API)",
	})
	if c.Agents[0].Name != "1001" {
		t.Errorf("Validate did not default the display name: %q", c.Agents[0].Name)
	}
}

// R12: credentials never reach the logs, even when a whole agent or the
// API section is logged.
func TestLoggingAnAgentOrTheAPILeavesCredentialsOut(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	a := config.Agent{User: "1001", Name: "王芳", Password: "hunter2-secret", HA1MD5: ha1MD5For1002, HA1SHA256: ha1SHA256For1002, Queues: []string{"support"}}
	log.Info("agent", "agent", a, "api", config.API{Token: "0123456789abcdef-token"})
	out := buf.String()
	for _, secret := range []string{"hunter2-secret", ha1MD5For1002, ha1SHA256For1002, "0123456789abcdef-token"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line %q contains a credential", out)
		}
	}
	for _, want := range []string{"agent.user=1001", "agent.queues=[support]", "api.enabled=true"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %q lacks %s", out, want)
		}
	}
}

func TestDigestAlgorithmsDefaultToSHA256ThenMD5AndCanBeLimitedPerAgent(t *testing.T) {
	if got := config.Default().Registrar.Algorithms; !reflect.DeepEqual(got, []string{"SHA-256", "MD5"}) {
		t.Fatalf("default algorithms %v", got)
	}
	c, err := config.Parse("a.yaml", []byte("agents:\n  - {user: \"1001\", password: pw-1001-abc, algorithms: [md5]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Agents[0].Algorithms; !reflect.DeepEqual(got, []string{"MD5"}) {
		t.Fatalf("agent algorithms %v, want [MD5]", got)
	}
	_, err = config.Parse("b.yaml", []byte("registrar:\n  algorithms: [SHA-512]\n"))
	if err == nil || !strings.Contains(err.Error(), "b.yaml:2: registrar.algorithms[0]: unknown digest algorithm") {
		t.Fatalf("err %v", err)
	}
}
