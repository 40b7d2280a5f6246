package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with -pprof-addr
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type options struct {
	addr           string
	dataDir        string
	logJSON        bool
	appSecret      string
	verifyToken    string
	graphURL       string
	bootstrapToken string
	mediaMaxBytes  int64
	bodyMemory     int64
	pprofAddr      string
	publicURL      string
	// shutdownTimeout bounds the drain at SIGTERM (see run).
	shutdownTimeout time.Duration
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", envOr("PARLEY_ADDR", "127.0.0.1:8080"), "listen address (PARLEY_ADDR)")
	fs.StringVar(&o.dataDir, "data-dir", envOr("PARLEY_DATA_DIR", "./parley-data"), "data directory (PARLEY_DATA_DIR)")
	fs.BoolVar(&o.logJSON, "log-json", envOr("PARLEY_LOG_JSON", "") != "", "log as JSON (PARLEY_LOG_JSON)")
	fs.StringVar(&o.appSecret, "meta-app-secret", envOr("PARLEY_META_APP_SECRET", ""), "Meta app secret that signs webhooks (PARLEY_META_APP_SECRET)")
	fs.StringVar(&o.verifyToken, "meta-verify-token", envOr("PARLEY_META_VERIFY_TOKEN", ""), "token for Meta's webhook handshake (PARLEY_META_VERIFY_TOKEN)")
	fs.StringVar(&o.graphURL, "graph-api-url", envOr("PARLEY_GRAPH_API_URL", meta.DefaultBaseURL), "Graph API base URL (PARLEY_GRAPH_API_URL)")
	fs.StringVar(&o.bootstrapToken, "bootstrap-token", envOr("PARLEY_BOOTSTRAP_TOKEN", ""), "owner API token created at first start (PARLEY_BOOTSTRAP_TOKEN)")
	fs.StringVar(&o.pprofAddr, "pprof-addr", envOr("PARLEY_PPROF_ADDR", ""), "serve net/http/pprof on this address, for profiling (PARLEY_PPROF_ADDR)")
	fs.StringVar(&o.publicURL, "public-url", envOr("PARLEY_PUBLIC_URL", ""), "this server's address as the internet sees it, for media links Instagram fetches (PARLEY_PUBLIC_URL)")
	defMedia, _ := strconv.ParseInt(envOr("PARLEY_MEDIA_MAX_BYTES", "67108864"), 10, 64)
	fs.Int64Var(&o.mediaMaxBytes, "media-max-bytes", defMedia, "largest media file stored (PARLEY_MEDIA_MAX_BYTES)")
	defBodyMemory, _ := strconv.ParseInt(envOr("PARLEY_BODY_MEMORY_BYTES", "67108864"), 10, 64)
	fs.Int64Var(&o.bodyMemory, "body-memory-bytes", defBodyMemory, "memory that request bodies read before authentication may hold at once; past it, 503 (PARLEY_BODY_MEMORY_BYTES)")
	// Graceful restart: how long SIGTERM may take to drain requests in
	// progress and sends in flight before what is left is cut short. A
	// service manager's stop timeout (systemd TimeoutStopSec, Docker's
	// stop_grace_period) must exceed it.
	defShutdown, err := time.ParseDuration(envOr("PARLEY_SHUTDOWN_TIMEOUT", "20s"))
	if err != nil {
		return o, fmt.Errorf("PARLEY_SHUTDOWN_TIMEOUT: %w", err)
	}
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", defShutdown, "longest drain at SIGTERM before in-flight work is cut short (PARLEY_SHUTDOWN_TIMEOUT)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.shutdownTimeout <= 0 {
		return o, errors.New("shutdown-timeout must be positive")
	}
	if o.mediaMaxBytes <= 0 {
		return o, errors.New("media-max-bytes must be positive")
	}
	if o.bodyMemory <= 0 {
		return o, errors.New("body-memory-bytes must be positive")
	}
	if o.publicURL != "" {
		if u, err := url.Parse(o.publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, errors.New("public-url must be an absolute http(s) URL")
		}
	}
	return o, nil
}

// defaultGCPercent is the garbage collector's target unless GOGC is set:
// ingest allocates short-lived buffers per message, and collecting at 4×
// the live heap instead of 2× halves the collector's share of the CPU for
// a little more memory (the live heap is small: idle conversations are
// passivated to disk).
const defaultGCPercent = 400

func main() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(defaultGCPercent)
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(2)
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if o.logJSON {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	log := slog.New(h)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		log.Error("Parley stopped with an error", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) (err error) {
	store, err := persistence.Open(persistence.Options{Dir: filepath.Join(o.dataDir, "db"), Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	secret, err := gateway.Bootstrap(store, o.bootstrapToken, time.Now().UTC())
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		store.Collector())
	graphCfg := meta.ClientConfig{BaseURL: o.graphURL, InstagramBaseURL: o.graphURL, MaxMediaBytes: o.mediaMaxBytes}
	if o.graphURL == meta.DefaultBaseURL {
		graphCfg.InstagramBaseURL = ""
	}
	if err := graphCfg.Validate(); err != nil {
		return err
	}
	graph := meta.NewClient(graphCfg)
	mediaStore, err := media.NewStore(filepath.Join(o.dataDir, "media"), o.mediaMaxBytes)
	if err != nil {
		return err
	}
	mediaStore.SetPublicURL(o.publicURL)
	accounts, err := gateway.NewAccounts(store)
	if err != nil {
		return err
	}
	// The AI agent per workspace and channel account; the built-in rules
	// agent answers until one is configured through the API.
	registry, err := agents.NewRegistry(store, nil)
	if err != nil {
		return err
	}
	rt, err := actors.New(actors.Config{Store: store, Logger: log, Registerer: reg,
		Sender: channels.NewSender(accounts, graph, mediaStore).WithLogger(log), Agents: registry})
	if err != nil {
		return err
	}
	if err := rt.Start(); err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{Runtime: rt, Store: store, Accounts: accounts, Graph: graph, Media: mediaStore,
		AppSecret: o.appSecret, VerifyToken: o.verifyToken, Logger: log, Registerer: reg, Gatherer: reg, Agents: registry,
		BodyMemory: o.bodyMemory})
	if err != nil {
		return err
	}
	if o.pprofAddr != "" {
		pln, err := net.Listen("tcp", o.pprofAddr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", o.pprofAddr, err)
		}
		psrv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = psrv.Serve(pln) }()
		defer psrv.Close()
		log.Info("Profiling endpoint", "addr", "http://"+pln.Addr().String()+"/debug/pprof/")
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	gw.Start()
	serveErr := make(chan error, 1)
	go func() { serveErr <- gw.Serve(ln) }()
	log.Info("Parley is running", "inbox", "http://"+ln.Addr().String()+"/", "data", o.dataDir)
	if secret != "" {
		log.Info("Created the first workspace; use this owner API token (shown once)", "token", secret)
	}

	select {
	case <-ctx.Done():
		log.Info("Shutting down", "timeout", o.shutdownTimeout)
	case err = <-serveErr:
		log.Error("Gateway stopped", "err", err)
	}
	// The drain (docs/ARCHITECTURE.md, "Shutdown"), all of it within
	// shutdownTimeout: the gateway first (readiness 503, new requests
	// refused with 503, WebSockets closed with 1001, requests in progress
	// answered after their commit), then the actors (sends in flight
	// answered and recorded); the store closes last (deferred above).
	began := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if gerr := gw.Shutdown(sctx); gerr != nil {
		err = errors.Join(err, gerr)
	}
	if rerr := rt.Shutdown(sctx); rerr != nil {
		err = errors.Join(err, rerr)
	}
	log.Info("Parley stopped", "drained_in", time.Since(began))
	return err
}
