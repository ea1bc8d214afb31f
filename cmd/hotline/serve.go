package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotline-dev/hotline/callflow"
	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/config"
	"github.com/hotline-dev/hotline/media"
	"github.com/hotline-dev/hotline/metrics"
	"github.com/hotline-dev/hotline/prompts"
	"github.com/hotline-dev/hotline/queue"
	"github.com/hotline-dev/hotline/sip"
	"github.com/hotline-dev/hotline/sysload"
)

// queueClock is the wall clock for the queue manager.
type queueClock struct{}

func (queueClock) Now() time.Time { return time.Now() }

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file (default: the built-in config)")
	sipAddr := fs.String("sip", "", "SIP listen address host:port, UDP and TCP (overrides sip.listen)")
	httpAddr := fs.String("http", "", "HTTP listen address for /metrics, /healthz, /readyz (overrides http.listen)")
	dbPath := fs.String("db", "", "SQLite database file (overrides database.path)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "hotline serve: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	if *sipAddr != "" {
		cfg.SIP.Listen = *sipAddr
	}
	if *httpAddr != "" {
		cfg.HTTP.Listen = *httpAddr
	}
	if *dbPath != "" {
		cfg.Database.Path = *dbPath
	}

	applyNice(cfg.Process.Nice, log)
	applyGCPercent(cfg.Process.GCPercent, os.Getenv("GOGC"), log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runServer(ctx, cfg, log); err != nil {
		log.Error("hotline stopped", "error", err)
		return 1
	}
	return 0
}

func loadPrompts(cfg *config.Config, log *slog.Logger) (*prompts.Catalogue, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return prompts.Load(prompts.Options{
		Language:     cfg.Language,
		Overrides:    cfg.Prompts,
		CompanyName:  cfg.Company.Name,
		CompanyAudio: cfg.Company.Audio,
		Logger:       log,
	})
}

// runServer wires the packages together and runs until ctx is done.
func runServer(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	cat, err := loadPrompts(cfg, log)
	if err != nil {
		return fmt.Errorf("prompts: %w", err)
	}
	store, err := calllog.Open(ctx, calllog.Options{Driver: cfg.Database.Driver, Path: cfg.Database.Path, Logger: log})
	if err != nil {
		return fmt.Errorf("call log %s: %w", cfg.Database.Path, err)
	}
	defer store.Close()
	if n := store.RecoveredCount(); n > 0 {
		log.Warn("calls left open by an earlier run closed as interrupted", "count", n)
	}

	reg := prometheus.NewRegistry()
	metrics.RegisterRuntime(reg)
	rec := metrics.New(reg, cfg.Ring.On, cfg.Ring.Off)

	bindIP, err := netip.ParseAddr(cfg.RTP.Bind)
	if err != nil {
		return fmt.Errorf("rtp.bind %q: %w", cfg.RTP.Bind, err)
	}
	transport, err := media.ParseTransport(cfg.RTP.Transport)
	if err != nil {
		return fmt.Errorf("rtp.transport: %w", err)
	}
	mediaEngine, err := media.NewEngine(media.EngineConfig{
		BindIP: bindIP, PortMin: cfg.RTP.PortMin, PortMax: cfg.RTP.PortMax, Transport: transport,
		InactivityTimeout: cfg.RTP.InactivityTimeout,
		Lateness:          rec.PacerLateness(),
		LateBar:           cfg.Limits.MaxMediaLateness,
		Logger:            log,
	})
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer mediaEngine.Close()

	// The CPU forecast needs the kernel's counters; where they cannot be
	// read, it is off and said so, and the lateness still judges.
	var machine *sysload.Sampler
	if cfg.Limits.MaxCPUBusy > 0 {
		if machine, err = sysload.New(nil, mediaEngine); err != nil {
			log.Warn("limits.max_cpu_busy is not judged: the machine's CPU load cannot be read", "error", err)
		} else {
			defer machine.Close()
		}
	}

	manager, err := queue.New(queueConfig(cfg), queueClock{}, queue.WithLogger(log))
	if err != nil {
		return fmt.Errorf("queues: %w", err)
	}
	var registrar *sip.Registrar
	sipStats := new(sipStatsRef)
	if len(cfg.Agents) > 0 {
		agents := map[string]config.Agent{}
		for _, a := range cfg.Agents {
			agents[a.User] = a
		}
		registrar, err = sip.NewRegistrar(sip.RegistrarConfig{
			Realm: cfg.Registrar.Realm, Algorithms: cfg.Registrar.Algorithms, NonceTTL: cfg.Registrar.NonceTTL,
			MinExpires: cfg.Registrar.MinExpires, MaxExpires: cfg.Registrar.MaxExpires,
			FailureLimit: cfg.Registrar.FailureLimit, FailureWindow: cfg.Registrar.FailureWindow, BlockFor: cfg.Registrar.BlockFor,
			Lookup: func(user string) (sip.Credential, bool) {
				a, ok := agents[user]
				return sip.Credential{Password: a.Password, HA1MD5: a.HA1MD5, HA1SHA256: a.HA1SHA256, Algorithms: a.Algorithms}, ok
			},
			OnLogin: func(user string) {
				if err := manager.Login(user); err != nil {
					log.Warn("agent login", "agent", user, "error", err)
				}
			},
			OnLogout: func(user string) {
				if err := manager.Logout(user); err != nil {
					log.Warn("agent logout", "agent", user, "error", err)
				}
			},
			Logger: log,
			Count:  func(code int) { sipStats.CountResponse(code) },
		})
		if err != nil {
			return fmt.Errorf("registrar: %w", err)
		}
	}

	var advertise netip.Addr
	if cfg.SIP.Advertise != "" {
		if advertise, err = netip.ParseAddr(cfg.SIP.Advertise); err != nil {
			return fmt.Errorf("sip.advertise %q: %w", cfg.SIP.Advertise, err)
		}
	}
	// The SIP server hands calls to the flow, and the flow dials agents
	// through the SIP server: the flow is filled in before Serve runs.
	var flow *callflow.Engine
	sipServer, err := sip.NewServer(sip.Config{
		Listen: cfg.SIP.Listen, Advertise: advertise, UserAgent: "hotline/" + version,
		Logger: log, Registrar: registrar,
		OnInvite: func(c *sip.InboundCall) { flow.HandleInvite(c) },
		// Past limits.max_calls, while the media engine misses
		// limits.max_media_lateness or would miss it with the legs the
		// calls in progress are about to add, or while those legs would
		// take the machine past limits.max_cpu_busy, new calls are
		// refused at once, so the calls already up keep their audio and
		// R1 holds for every call accepted. None of these needs a
		// capacity figure from the operator: they judge what the
		// machine, with whatever else runs on it, manages at the moment.
		Admit: func() error {
			if max := cfg.Limits.MaxCalls; max > 0 && flow.Active() >= max {
				return fmt.Errorf("at capacity: %d calls in progress", flow.Active())
			}
			coming := flow.LegsComing()
			late, over := mediaEngine.Overloaded(coming)
			if over {
				if late.Recovering {
					return fmt.Errorf("audio behind: %s", late)
				}
				return fmt.Errorf("audio would fall behind: %s", late)
			}
			if machine != nil {
				if load, over := machine.Overloaded(coming, float64(cfg.Limits.MaxCPUBusy)/100); over {
					return fmt.Errorf("CPU would be past limits.max_cpu_busy: %s", load)
				}
			}
			return nil
		},
		RetryAfter: cfg.Limits.RetryAfter,
	})
	if err != nil {
		return err
	}
	defer sipServer.Close()
	sipStats.Stats = sipServer.Stats()

	queueMetrics := metrics.NewQueueRecorder(reg, manager.Queues(), cfg.Ring.On, cfg.Ring.Off, manager, func() map[string]int {
		counts := map[string]int{}
		for state, n := range manager.AgentStates() {
			counts[string(state)] = n
		}
		return counts
	})
	opts := callflow.Options{
		Config: cfg, Prompts: cat, Journal: store, Metrics: rec, Logger: log, QueueMetrics: queueMetrics,
		SpeechMetrics: metrics.NewSpeechRecorder(reg, manager.Queues(), agentLabels(cfg)),
		NewMedia:      func(callID string) (callflow.Media, error) { return mediaEngine.NewSession(callID) },
	}
	if registrar != nil {
		opts.Queues = manager
		opts.Agents = agentDialer{reg: registrar, srv: sipServer}
		opts.Bridge = func(a, b callflow.Media) (func(), error) {
			br, err := mediaEngine.Bridge(a.(*media.Session), b.(*media.Session))
			if err != nil {
				return nil, err
			}
			return br.Close, nil
		}
	}
	if flow, err = callflow.New(opts); err != nil {
		return err
	}
	// Timed agent transitions (wrap-up, back-off) and binding expiry.
	tickCtx, stopTicks := context.WithCancel(context.Background())
	defer stopTicks()
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-tickCtx.Done():
				return
			case now := <-t.C:
				manager.Tick()
				if registrar != nil && n%4 == 0 {
					registrar.Sweep(now)
				}
			}
		}
	}()
	if registrar != nil {
		registerRegistrar(reg, registrar)
	}
	registerReadouts(reg, sipServer, mediaEngine, store)

	pc, ln, err := sipServer.Listen()
	if err != nil {
		return err
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		pc.Close()
		ln.Close()
		return fmt.Errorf("http listen %s: %w", cfg.HTTP.Listen, err)
	}

	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if cfg.API.Token != "" {
		mux.Handle("/api/", agentAPI(manager, cfg.API.Token, time.Now))
	}
	if cfg.HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := httpSrv.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()

	sipCtx, stopSIP := context.WithCancel(context.Background())
	sipDone := make(chan error, 1)
	go func() { sipDone <- sipServer.Serve(sipCtx, pc, ln) }()
	udp, tcp := sipServer.Addrs()
	ready.Store(true)
	log.Info("hotline serving", "version", version, "sip_udp", udp.String(), "sip_tcp", tcp.String(),
		"http", httpLn.Addr().String(), "db", cfg.Database.Path, "language", cat.Language(), "config", cfg.Source)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-sipDone:
	}

	// Shutdown order: not ready; end calls with BYE while SIP still runs
	// (each is recorded, reason shutdown); then stop SIP, media, log.
	ready.Store(false)
	log.Info("shutting down", "active_calls", flow.Active())
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := flow.Shutdown(shutCtx); err != nil {
		log.Warn("calls still ending at shutdown", "error", err)
	}
	stopSIP()
	if runErr == nil {
		runErr = <-sipDone
	}
	_ = httpSrv.Shutdown(shutCtx)
	if err := store.Flush(shutCtx); err != nil {
		log.Warn("call log flush", "error", err)
	}
	return runErr
}

// registerReadouts exposes counters kept by the SIP server, the media
// engine and the call log, read when Prometheus scrapes.
func registerReadouts(reg prometheus.Registerer, s *sip.Server, m *media.Engine, store *calllog.Store) {
	st := s.Stats()
	metrics.SIPResponses(reg, func(class int) uint64 { return st.Responses[class].Load() })
	metrics.CounterFunc(reg, "hotline_sip_datagrams_dropped_total", "Unparsable UDP datagrams dropped unanswered.",
		func() float64 { return float64(st.DroppedDatagrams.Load()) })
	metrics.CounterFunc(reg, "hotline_sip_malformed_requests_total", "Malformed SIP requests answered with 400.",
		func() float64 { return float64(st.MalformedRequests.Load()) })
	metrics.CounterFunc(reg, "hotline_calls_refused_overload_total", "New calls refused with 503 and Retry-After because the server was at capacity (limits.max_calls), its audio was or would fall behind (limits.max_media_lateness), or the machine would be too busy (limits.max_cpu_busy).",
		func() float64 { return float64(st.OverloadRefused.Load()) })
	metrics.CounterFunc(reg, "hotline_rtp_packets_sent_total", "RTP packets sent to callers.",
		func() float64 { return float64(m.Stats().PacketsSent) })
	metrics.CounterFunc(reg, "hotline_rtp_packets_received_total", "RTP packets received from callers.",
		func() float64 { return float64(m.Stats().PacketsReceived) })
	metrics.CounterFunc(reg, "hotline_rtp_packets_dropped_total", "Received datagrams dropped as not RTP or of an unexpected payload type.",
		func() float64 { return float64(m.Stats().PacketsDropped) })
	metrics.CounterFunc(reg, "hotline_rtp_frames_skipped_total", "Frames the pacer skipped after falling far behind.",
		func() float64 { return float64(m.Stats().FramesSkipped) })
	metrics.CounterFunc(reg, "hotline_rtp_send_errors_total", "RTP sends that failed.",
		func() float64 { return float64(m.Stats().SendErrors) })
	metrics.CounterFunc(reg, "hotline_rtp_pacer_cpu_seconds_total", "CPU time the pacers spent reading, analysing, relaying and sending the legs' audio; per leg, what the limits.max_cpu_busy forecast weighs a coming leg at.",
		func() float64 { return m.MediaCPU().Seconds() })
	metrics.GaugeFunc(reg, "hotline_rtp_sessions_active", "RTP sessions open.",
		func() float64 { return float64(m.Stats().ActiveSessions) })
	metrics.CounterFunc(reg, "hotline_call_records_written_total", "Call records written (R6).",
		func() float64 { return float64(store.Stats().RecordsWritten) })
	metrics.CounterFunc(reg, "hotline_call_events_written_total", "Call events journaled.",
		func() float64 { return float64(store.Stats().EventsWritten) })
	metrics.CounterFunc(reg, "hotline_calllog_write_errors_total", "Call log writes that failed.",
		func() float64 { return float64(store.Stats().WriteErrors) })
	metrics.GaugeFunc(reg, "hotline_calllog_queue_depth", "Events waiting to be journaled.",
		func() float64 { return float64(store.Stats().QueueDepth) })
}

// registerRegistrar exposes the registrar's counters (R12: auth failures
// and blocked sources).
func registerRegistrar(reg prometheus.Registerer, r *sip.Registrar) {
	metrics.CounterFunc(reg, "hotline_registrar_registrations_total", "Successful REGISTERs.",
		func() float64 { return float64(r.Stats().Registrations) })
	metrics.CounterFunc(reg, "hotline_registrar_auth_failures_total", "Failed digest authentications (R12).",
		func() float64 { return float64(r.Stats().AuthFailures) })
	metrics.CounterFunc(reg, "hotline_registrar_throttled_total", "REGISTERs refused because their source is blocked after repeated failures (R12).",
		func() float64 { return float64(r.Stats().Throttled) })
	metrics.GaugeFunc(reg, "hotline_registrar_bindings", "Agent phone bindings registered now.",
		func() float64 { return float64(r.Stats().Bound) })
}

// sipStatsRef lets the registrar, built before the SIP server, count its
// responses in the server's counters once the server exists.
type sipStatsRef struct{ *sip.Stats }

func (r *sipStatsRef) CountResponse(code int) {
	if r.Stats != nil {
		r.Stats.CountResponse(code)
	}
}

// agentLabels names the agents whose per-agent series exist: none unless
// metrics.agent_labels is on.
func agentLabels(cfg *config.Config) []string {
	if !cfg.Metrics.AgentLabels {
		return nil
	}
	users := make([]string, 0, len(cfg.Agents))
	for _, a := range cfg.Agents {
		users = append(users, a.User)
	}
	return users
}
