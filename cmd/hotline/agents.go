package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hotline-dev/hotline/callflow"
	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/queue"
	"github.com/hotline-dev/hotline/sip"
)

// agentDialer rings an agent where the registrar last saw their phone.
type agentDialer struct {
	reg *sip.Registrar
	srv *sip.Server
}

func (d agentDialer) DialAgent(ctx context.Context, a callflow.AgentCall) (callflow.AgentLeg, error) {
	bindings := d.reg.Bindings(a.User)
	if len(bindings) == 0 {
		return nil, fmt.Errorf("agent %s: %w", a.User, sip.ErrNoBinding)
	}
	b := bindings[0]
	leg, err := d.srv.Dial(ctx, sip.DialRequest{
		Target: b.Target, User: a.User, Transport: b.Transport,
		FromUser: a.Caller, FromName: a.Queue, MediaPort: a.MediaPort,
	})
	if err != nil {
		return nil, err
	}
	return agentLeg{leg}, nil
}

// agentLeg gives the flow the leg's transfer requests as callflow
// Transfers.
type agentLeg struct{ *sip.OutboundCall }

func (l agentLeg) OnTransfer(f func(callflow.Transfer)) {
	l.OutboundCall.OnRefer(func(r *sip.Refer) { f(r) })
}

// MessageAgent sends a text to the agent's registered phone (SIP MESSAGE,
// RFC 3428): live alerts such as dead air (R9).
func (d agentDialer) MessageAgent(ctx context.Context, user, text string) error {
	bindings := d.reg.Bindings(user)
	if len(bindings) == 0 {
		return fmt.Errorf("agent %s: %w", user, sip.ErrNoBinding)
	}
	b := bindings[0]
	return d.srv.SendMessage(ctx, sip.Message{Target: b.Target, User: user, Transport: b.Transport, Text: text})
}

// agentJSON is one agent in the HTTP API and `hotline agents --json`.
type agentJSON struct {
	User       string   `json:"user"`
	Name       string   `json:"name"`
	State      string   `json:"state"`
	Reason     string   `json:"reason,omitempty"`
	Since      string   `json:"since"`
	InStateSec float64  `json:"in_state_seconds"`
	Queues     []string `json:"queues"`
	CallsTaken int      `json:"calls_taken"`
}

// agentAPI serves /api/agents behind a bearer token (R12: agent state
// changes and the agent list need authentication).
func agentAPI(m *queue.Manager, token string, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/agents", func(w http.ResponseWriter, r *http.Request) {
		out := []agentJSON{}
		for _, a := range m.Agents() {
			out = append(out, agentJSON{User: a.User, Name: a.Name, State: string(a.State), Reason: a.Reason,
				Since: a.Since.UTC().Format(time.RFC3339), InStateSec: now().Sub(a.Since).Round(time.Second).Seconds(),
				Queues: a.Queues, CallsTaken: a.CallsTaken})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /api/agents/{user}/{state}", func(w http.ResponseWriter, r *http.Request) {
		user, state := r.PathValue("user"), r.PathValue("state")
		var err error
		switch state {
		case "ready":
			err = m.SetReady(user, true, "")
		case "not-ready":
			err = m.SetReady(user, false, queue.ReasonManual)
		case "login":
			err = m.Login(user)
		case "logout":
			err = m.Logout(user)
		default:
			http.Error(w, "state must be ready, not-ready, login or logout", http.StatusBadRequest)
			return
		}
		switch {
		case errors.Is(err, queue.ErrUnknownAgent):
			http.Error(w, err.Error(), http.StatusNotFound)
		case errors.Is(err, queue.ErrLoggedOut):
			http.Error(w, err.Error(), http.StatusConflict)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			a, _ := m.Agent(user)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"user": user, "state": string(a.State), "reason": a.Reason})
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotline"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// agentsCmd is `hotline agents`: the running server's agents with state and
// time in state, read through the HTTP API.
func agentsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agents", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (for http.listen and api.token)")
	httpAddr := fs.String("http", "", "server HTTP address (overrides http.listen)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	addr := cfg.HTTP.Listen
	if *httpAddr != "" {
		addr = *httpAddr
	}
	if cfg.API.Token == "" {
		fmt.Fprintln(stderr, "hotline agents: api.token is not set in the config, so the agent API is off")
		return 1
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/agents", nil)
	req.Header.Set("Authorization", "Bearer "+cfg.API.Token)
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "hotline agents: %v\n", err)
		return 1
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		fmt.Fprintf(stderr, "hotline agents: %s: %s", res.Status, b)
		return 1
	}
	var agents []agentJSON
	if err := json.NewDecoder(res.Body).Decode(&agents); err != nil {
		fmt.Fprintf(stderr, "hotline agents: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(agents)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tNAME\tSTATE\tREASON\tIN STATE\tQUEUES\tCALLS")
	for _, a := range agents {
		reason := a.Reason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", a.User, a.Name, a.State, reason,
			time.Duration(a.InStateSec*float64(time.Second)).String(), strings.Join(a.Queues, ","), a.CallsTaken)
	}
	tw.Flush()
	return 0
}

// queueConfig maps the file's queues and agents onto the queue manager's.
func queueConfig(cfg *config.Config) queue.Config {
	var qc queue.Config
	for _, q := range cfg.Queues {
		qc.Queues = append(qc.Queues, queue.QueueConfig{
			Name: q.Name, Strategy: queue.Strategy(q.Strategy),
			WrapUp: q.WrapUp, NoAnswerDelay: q.NoAnswerDelay, BusyDelay: q.BusyDelay, RejectDelay: q.RejectDelay,
			RetryAvoid: q.RetryAvoid, ShortAbandon: q.ShortAbandon, MaxNoAnswer: q.MaxNoAnswer,
		})
	}
	for _, a := range cfg.Agents {
		qc.Agents = append(qc.Agents, queue.AgentConfig{User: a.User, Name: a.Name, Queues: cfg.AgentQueues(a), Penalty: a.Penalty})
	}
	return qc
}
