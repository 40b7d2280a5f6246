package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/notify"
	"github.com/parleyhq/parley/gateway/tlsconf"
)

// options is the configuration of a Parley process.
type options struct {
	configFile     string
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
	smtpAddr       string
	postmarkAuth   string
	// adminToken opens the operator admin API (gateway Config.AdminToken).
	adminToken string
	// widgetRate is the web chat widget's requests a second per visitor.
	widgetRate int64
	// imapPollInterval is how long an IMAP poller waits on IDLE before it
	// looks again unasked.
	imapPollInterval time.Duration
	publicURL        string
	// shutdownTimeout bounds the drain at SIGTERM (see run).
	shutdownTimeout time.Duration
	// channelHealthInterval is how often channel accounts are checked.
	channelHealthInterval time.Duration
	// apiChannelAllowPrivate lets API channel webhooks and file URLs
	// reach non-public addresses.
	apiChannelAllowPrivate bool
	// HTTPS and proxies (tls.go)
	tlsAddr        string
	tlsHosts       string
	acmeDirectory  string
	acmeCA         string
	acmeEmail      string
	tlsCert        string
	tlsKey         string
	trustedProxies string
	// Notifications
	notifySMTPURL string
	notifyFrom    string
}

// kind is what an option's value is, and how its text is checked.
type kind string

const (
	kindText     kind = "text"
	kindAddr     kind = "host:port"
	kindURL      kind = "URL"      // an absolute http(s) URL
	kindBytes    kind = "bytes"    // a positive integer
	kindBool     kind = "bool"     // true or false
	kindDuration kind = "duration" // a positive Go duration such as 20s
	kindDir      kind = "directory"
	kindFile     kind = "file"     // the configuration file itself: flag and environment only
	kindSMTP     kind = "SMTP URL" // smtp://user:pass@host:587 or smtps://...
	kindEmail    kind = "email address"
)

// option is one row of the configuration table. Its flag is -name, its
// environment variable PARLEY_NAME (dashes as underscores, upper case)
// and its key in the configuration file name_with_underscores.
type option struct {
	name string
	kind kind
	def  string // the default, as text; "" is none
	help string
	to   func(*options) any // where the value goes: *string, *bool, *int64 or *time.Duration
}

// optionTable is every option of parley: the flags, the PARLEY_*
// variables, the file keys, `parley help`, `parley config check` and the
// README test all derive from it. Adding an option is adding a line.
var optionTable = []option{
	{"config", kindFile, "", "TOML configuration file (flags and PARLEY_* variables win over it)", func(o *options) any { return &o.configFile }},
	{"addr", kindAddr, "127.0.0.1:8080", "listen address", func(o *options) any { return &o.addr }},
	{"data-dir", kindDir, "./parley-data", "data directory: the Pebble store in db/, media files in media/", func(o *options) any { return &o.dataDir }},
	{"meta-app-secret", kindText, "", "the Meta app secret that signs webhooks for every account", func(o *options) any { return &o.appSecret }},
	{"meta-verify-token", kindText, "", "the token of Meta's webhook subscription handshake", func(o *options) any { return &o.verifyToken }},
	{"graph-api-url", kindURL, meta.DefaultBaseURL, "Graph API base URL (tests point it at a local fake)", func(o *options) any { return &o.graphURL }},
	{"admin-token", kindText, "", "the operator's token of the admin API (/api/v1/admin/workspaces: create, suspend, delete workspaces, set plan limits) and of backups; the workspace API is off when empty", func(o *options) any { return &o.adminToken }},
	{"bootstrap-token", kindText, "", "owner API token created when no workspace exists (random and printed once when empty)", func(o *options) any { return &o.bootstrapToken }},
	{"media-max-bytes", kindBytes, "67108864", "largest media file stored", func(o *options) any { return &o.mediaMaxBytes }},
	{"body-memory-bytes", kindBytes, "67108864", "memory request bodies may hold at once while they are read, before authentication; past it, 503", func(o *options) any { return &o.bodyMemory }},
	{"log-json", kindBool, "false", "log as JSON instead of text", func(o *options) any { return &o.logJSON }},
	{"public-url", kindURL, "", "this server's address as the internet sees it, for media links Instagram fetches", func(o *options) any { return &o.publicURL }},
	{"pprof-addr", kindAddr, "", "serve net/http/pprof on this address, for profiling (off when empty)", func(o *options) any { return &o.pprofAddr }},
	{"shutdown-timeout", kindDuration, "20s", "longest drain at SIGTERM before what is in flight is cut short; a service manager's stop timeout must exceed it", func(o *options) any { return &o.shutdownTimeout }},
	{"channel-health-interval", kindDuration, "10m", "how often every channel account's health (token accepted, Meta reachable) is checked with one cheap Graph call", func(o *options) any { return &o.channelHealthInterval }},
	{"api-channel-allow-private", kindBool, "false", "let API channel webhook URLs and inbound file URLs reach loopback, private and link-local addresses (refused by default)", func(o *options) any { return &o.apiChannelAllowPrivate }},
	// HTTPS and proxies (tls.go)
	{"tls-addr", kindAddr, "", "HTTPS listen address; -addr then answers ACME http-01 and redirects to it (:443 when TLS is on)", func(o *options) any { return &o.tlsAddr }},
	{"tls-hosts", kindText, "", "public host names to get certificates for over ACME, comma-separated", func(o *options) any { return &o.tlsHosts }},
	{"acme-directory", kindURL, tlsconf.LetsEncryptURL, "ACME directory URL", func(o *options) any { return &o.acmeDirectory }},
	{"acme-ca", kindText, "", "PEM CA bundle trusted for the ACME server's own HTTPS (system roots when empty)", func(o *options) any { return &o.acmeCA }},
	{"acme-email", kindText, "", "contact email of the ACME account", func(o *options) any { return &o.acmeEmail }},
	{"tls-cert", kindText, "", "PEM certificate chain file, reloaded on change; instead of -tls-hosts", func(o *options) any { return &o.tlsCert }},
	{"tls-key", kindText, "", "PEM key file of -tls-cert", func(o *options) any { return &o.tlsKey }},
	{"trusted-proxies", kindText, "", "reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: IPs and CIDR ranges, comma-separated", func(o *options) any { return &o.trustedProxies }},
	// Email
	{"smtp-addr", kindAddr, "", "built-in SMTP receiver of inbound mail for the connected email accounts' addresses (MX or forwarding pointed here), such as :25; off when empty", func(o *options) any { return &o.smtpAddr }},
	{"postmark-inbound-auth", kindText, "", "user:password that Postmark's inbound webhook (POST /webhooks/email/postmark) must send as HTTP basic auth; the route is off when empty", func(o *options) any { return &o.postmarkAuth }},
	// Web chat widget
	{"widget-visitor-rate", kindBytes, "2", "requests a second the web chat widget's visitor API allows each visitor (bursts of ten times as many); each address gets five times as many", func(o *options) any { return &o.widgetRate }},
	{"imap-poll-interval", kindDuration, "1m", "longest wait of an email account's IMAP mailbox reader on IDLE before it looks at the mailbox again unasked", func(o *options) any { return &o.imapPollInterval }},
	// Notifications
	{"notify-smtp-url", kindSMTP, "", "SMTP relay of notification emails: smtp://user:password@host:587 (STARTTLS) or smtps://...:465 (TLS); email notifications are off when empty", func(o *options) any { return &o.notifySMTPURL }},
	{"notify-from", kindEmail, "", "From address of notification emails, such as Parley <parley@example.com> (required with -notify-smtp-url)", func(o *options) any { return &o.notifyFrom }},
}

func (op option) flagName() string { return "-" + op.name }

func (op option) envName() string {
	return "PARLEY_" + strings.ToUpper(strings.ReplaceAll(op.name, "-", "_"))
}

// fileKey is the option's key in the configuration file; "" for the
// option that names the file.
func (op option) fileKey() string {
	if op.kind == kindFile {
		return ""
	}
	return strings.ReplaceAll(op.name, "-", "_")
}

// parse checks text for the option's kind and returns the value. An empty
// text is none, allowed only for an option whose default is none (and a
// bool, for which it is false).
func (op option) parse(text string) (any, error) {
	if text == "" && op.kind != kindBool {
		if op.def != "" {
			return nil, errors.New("must not be empty")
		}
		return "", nil
	}
	switch op.kind {
	case kindAddr:
		_, port, err := net.SplitHostPort(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not host:port", text)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return nil, fmt.Errorf("%q has no port number (0 to 65535)", text)
		}
		return text, nil
	case kindURL:
		u, err := url.Parse(text)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%q is not an absolute http(s) URL", text)
		}
		return text, nil
	case kindBytes:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number of bytes", text)
		}
		if n <= 0 {
			return nil, fmt.Errorf("%d must be positive", n)
		}
		return n, nil
	case kindBool:
		switch strings.ToLower(text) {
		case "", "0", "f", "false", "no", "off":
			return false, nil
		case "1", "t", "true", "yes", "on":
			return true, nil
		}
		return nil, fmt.Errorf("%q is not true or false", text)
	case kindSMTP:
		if _, err := notify.ParseSMTPURL(text); err != nil {
			return nil, fmt.Errorf("%q: %w", redactURL(text), err)
		}
		return text, nil
	case kindEmail:
		if _, err := mail.ParseAddress(text); err != nil {
			return nil, fmt.Errorf("%q is not an email address", text)
		}
		return text, nil
	case kindDuration:
		d, err := time.ParseDuration(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as 20s", text)
		}
		if d <= 0 {
			return nil, fmt.Errorf("%s must be positive", d)
		}
		return d, nil
	}
	return text, nil
}

// set parses text and stores the value in o.
func (op option) set(o *options, text string) error {
	v, err := op.parse(text)
	if err != nil {
		return err
	}
	switch p := op.to(o).(type) {
	case *string:
		*p = v.(string)
	case *bool:
		*p = v.(bool)
	case *int64:
		if v == "" {
			*p = 0
		} else {
			*p = v.(int64)
		}
	case *time.Duration:
		if v == "" {
			*p = 0
		} else {
			*p = v.(time.Duration)
		}
	default:
		panic(fmt.Sprintf("option %s: unsupported field type %T", op.name, p))
	}
	return nil
}

// fileText turns a value decoded from the TOML file into the option's
// text: booleans and byte counts are TOML booleans and integers, every
// other option a string.
func (op option) fileText(v any) (string, error) {
	switch op.kind {
	case kindBool:
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		return "", errors.New("want true or false")
	case kindBytes:
		if n, ok := v.(int64); ok {
			return strconv.FormatInt(n, 10), nil
		}
		return "", errors.New("want an integer")
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", errors.New("want a string")
}

// optionFlag records each use of a flag; the values are applied after the
// file and the environment, whose order the flags do not follow.
type optionFlag struct {
	op   option
	seen *[]flagUse
}

type flagUse struct {
	op   option
	text string
}

func (f optionFlag) String() string   { return "" }
func (f optionFlag) IsBoolFlag() bool { return f.op.kind == kindBool }
func (f optionFlag) Set(s string) error {
	*f.seen = append(*f.seen, flagUse{f.op, s})
	return nil
}

// newFlagSet returns a flag set with every option of the table, for a
// subcommand to add its own flags to before loadConfig parses it.
func newFlagSet(name string) (*flag.FlagSet, *[]flagUse) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	seen := new([]flagUse)
	for _, op := range optionTable {
		fs.Var(optionFlag{op, seen}, op.name, op.help)
	}
	return fs, seen
}

// loadConfig parses args with fs (from newFlagSet) and builds the options:
// the defaults, then the file (-config or PARLEY_CONFIG), then the PARLEY_*
// variables of lookupEnv (an empty one counts as unset), then the flags.
// It returns every problem found, each naming where it comes from; err is
// a command-line error (an unknown flag, -h, an argument left over) that
// stops the parse.
func loadConfig(fs *flag.FlagSet, seen *[]flagUse, args []string, lookupEnv func(string) (string, bool)) (o options, problems []error, err error) {
	if err := fs.Parse(args); err != nil {
		return o, nil, err
	}
	if fs.NArg() > 0 {
		return o, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, op := range optionTable {
		if err := op.set(&o, op.def); err != nil {
			panic(fmt.Sprintf("option %s: default: %v", op.name, err))
		}
	}
	add := func(where string, err error) {
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", where, err))
		}
	}
	env := func(op option) (string, bool) {
		v, ok := lookupEnv(op.envName())
		return v, ok && v != ""
	}
	file := ""
	for _, op := range optionTable {
		if op.kind != kindFile {
			continue
		}
		if v, ok := env(op); ok {
			file = v
		}
		for _, u := range *seen {
			if u.op.name == op.name {
				file = u.text
			}
		}
	}
	if file != "" {
		problems = append(problems, loadFile(&o, file)...)
	}
	for _, op := range optionTable {
		if v, ok := env(op); ok {
			add(op.envName(), op.set(&o, v))
		}
	}
	for _, u := range *seen {
		add(u.op.flagName(), u.op.set(&o, u.text))
	}
	o.configFile = file
	if len(problems) == 0 {
		// After every layer: it derives defaults (the HTTPS address, the
		// public URL) from the others.
		add("HTTPS options", checkHTTPSOptions(&o))
		if o.notifySMTPURL != "" && o.notifyFrom == "" {
			add("notification options", errors.New("-notify-smtp-url needs -notify-from, the emails' From address"))
		}
	}
	return o, problems, nil
}

// redactURL hides the password of a URL, for messages and check
// output.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(not a URL)"
	}
	return u.Redacted()
}

// loadFile applies the options of a TOML file to o and returns its
// problems: syntax, unknown keys, values of the wrong type or out of range.
func loadFile(o *options, path string) []error {
	var raw map[string]toml.Primitive
	md, err := toml.DecodeFile(path, &raw)
	// md.Undecoded cannot tell unknown keys here: decoding into
	// Primitives counts every top-level key as decoded; they are checked
	// against the table instead, and a table under a known key is a type
	// error.
	if err != nil {
		return []error{fmt.Errorf("config file %s: %w", path, err)}
	}
	var problems []error
	known := map[string]option{}
	for _, op := range optionTable {
		if k := op.fileKey(); k != "" {
			known[k] = op
		}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		op, ok := known[k]
		if !ok {
			problems = append(problems, fmt.Errorf("config file %s: unknown key %q", path, k))
			continue
		}
		var v any
		err := md.PrimitiveDecode(raw[k], &v)
		var text string
		if err == nil {
			text, err = op.fileText(v)
		}
		if err == nil {
			err = op.set(o, text)
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("config file %s: %s: %w", path, k, err))
		}
	}
	return problems
}

// checkDataDir reports whether Parley could create and write the data
// directory, without creating it: an existing directory must take a new
// file, a missing one must have a writable closest existing parent.
func checkDataDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if (errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && p != filepath.Dir(p) {
			continue
		}
		if err != nil {
			return fmt.Errorf("data dir %s: %w", dir, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("data dir %s: %s is not a directory", dir, p)
		}
		f, err := os.CreateTemp(p, ".parley-config-check-*")
		if err != nil {
			return fmt.Errorf("data dir %s is not writable: %w", dir, err)
		}
		name := f.Name()
		return errors.Join(f.Close(), os.Remove(name))
	}
}
