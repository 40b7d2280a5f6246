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
	_ "net/http/pprof" // served only with -pprof-addr
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/agents"
	"github.com/parleyhq/parley/gateway/channels"
	"github.com/parleyhq/parley/gateway/channels/apichannel"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/gateway/notify"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// parseFlags builds the options of `parley serve` from args, the PARLEY_*
// variables and the configuration file (see loadConfig); every problem
// found is in the error.
func parseFlags(args []string) (options, error) {
	fs, seen := newFlagSet("parley")
	o, problems, err := loadConfig(fs, seen, args, os.LookupEnv)
	if err != nil {
		return o, err
	}
	return o, errors.Join(problems...)
}

// defaultGCPercent is the garbage collector's target unless GOGC is set:
// ingest allocates short-lived buffers per message, and collecting at 4×
// the live heap instead of 2× halves the collector's share of the CPU for
// a little more memory (the live heap is small: idle conversations are
// passivated to disk).
const defaultGCPercent = 400

func main() {
	os.Exit(command(os.Args[1:], os.Stdout, os.Stderr))
}

// serve runs the server until SIGINT or SIGTERM: `parley` and `parley serve`.
func serve(args []string, stderr io.Writer) int {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(defaultGCPercent)
	}
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return usage(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "parley:", strings.ReplaceAll(err.Error(), "\n", "\nparley: "))
		fmt.Fprintln(stderr, "parley: run `parley help` for the options")
		return 2
	}
	var h slog.Handler = slog.NewTextHandler(stderr, nil)
	if o.logJSON {
		h = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(h)
	b := currentBuild()
	log.Info("Parley", "version", b.Version, "commit", b.Commit, "go", b.Go, "config", o.configFile)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The first signal starts the drain; once it has, the signals get
	// their default action back, so a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, o, log); err != nil {
		log.Error("Parley stopped with an error", "err", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, o options, log *slog.Logger) (err error) {
	store, err := persistence.Open(persistence.Options{Dir: filepath.Join(o.dataDir, "db"), Logger: log,
		Version: buildString()})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	// A backup cut short by a stop leaves its directory behind.
	if err := os.RemoveAll(backupTempDir(o.dataDir)); err != nil {
		return fmt.Errorf("removing unfinished backups: %w", err)
	}
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
	apiClient := apichannel.NewClient(apichannel.ClientConfig{AllowPrivate: o.apiChannelAllowPrivate, Registerer: reg})
	rt, err := actors.New(actors.Config{Store: store, Logger: log, Registerer: reg,
		Sender: channels.NewSender(accounts, graph, mediaStore).WithLogger(log).WithAPIChannel(apiClient).WithMessages(store), Agents: registry})
	if err != nil {
		return err
	}
	if err := rt.Start(); err != nil {
		return err
	}
	var smtpRelay *notify.SMTP
	if o.notifySMTPURL != "" {
		relay, err := notify.ParseSMTPURL(o.notifySMTPURL) // checked by loadConfig
		if err != nil {
			return fmt.Errorf("-notify-smtp-url: %w", err)
		}
		smtpRelay = &relay
	}
	gw, err := gateway.New(gateway.Config{Runtime: rt, Store: store, Accounts: accounts, Graph: graph, Media: mediaStore,
		AppSecret: o.appSecret, VerifyToken: o.verifyToken, Logger: log, Registerer: reg, Gatherer: reg, Agents: registry,
		BodyMemory: o.bodyMemory, TrustedProxies: o.proxyList(), PublicURL: o.publicURL, NotifySMTP: smtpRelay, NotifyFrom: o.notifyFrom,
		ChannelHealthInterval: o.channelHealthInterval, APIChannel: apiClient, BackupDir: backupTempDir(o.dataDir), Version: buildString(),
		PostmarkAuth: o.postmarkAuth, AdminToken: o.adminToken, WidgetVisitorRate: float64(o.widgetRate), IMAPPollInterval: o.imapPollInterval})
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
	lns, err := openListeners(o, log, reg)
	if err != nil {
		return err
	}
	defer lns.close()
	gw.Start()
	serveErr := make(chan error, 1)
	go func() { serveErr <- gw.Serve(lns.gateway) }()
	if o.smtpAddr != "" {
		sln, err := net.Listen("tcp", o.smtpAddr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", o.smtpAddr, err)
		}
		domain, _ := os.Hostname()
		go func() {
			if err := gw.ServeSMTP(sln, domain, o.mediaMaxBytes); err != nil {
				serveErr <- err
			}
		}()
		log.Info("SMTP receiver", "addr", sln.Addr().String())
	}
	lns.serveRedirect(log)
	log.Info("Parley is running", "inbox", lns.inbox, "data", o.dataDir)
	if secret != "" {
		log.Info("Created the first workspace; use this owner API token (shown once)", "token", secret)
	}
	if code, err := gateway.SetupLink(store, time.Now().UTC()); err != nil {
		log.Error("Could not make the setup link", "err", err)
	} else if code != "" {
		base := lns.inbox
		if o.publicURL != "" {
			base = strings.TrimRight(o.publicURL, "/") + "/"
		}
		log.Info("Open this one-time link within 24 hours to set the owner's name, email and password", "setup", base+"#setup/"+code)
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
