package tlsconf

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reloadCheckInterval is how often, at most, a handshake looks at the
// certificate files for a change.
const reloadCheckInterval = time.Second

// stamp is what a file change is told by: its size and modification time.
type stamp struct {
	size int64
	mod  time.Time
}

func statFile(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi.Size(), fi.ModTime()}, nil
}

// certFile serves a certificate and key read from files. A handshake
// looks at the files at most once per reloadCheckInterval; when either
// changed, the pair is read again, and a pair that does not load (half
// written, mismatched) keeps the previous certificate. It runs no
// goroutine.
type certFile struct {
	certPath, keyPath string
	log               *slog.Logger
	reloads           *prometheus.CounterVec
	now               func() time.Time

	mu            sync.Mutex
	cert          *tls.Certificate
	certAt, keyAt stamp
	checked       time.Time
}

func newCertFile(certPath, keyPath string, log *slog.Logger, reg prometheus.Registerer) (*certFile, error) {
	f := &certFile{certPath: certPath, keyPath: keyPath, log: log, now: time.Now,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_tls_certificate_reloads_total",
			Help: "Reloads of the TLS certificate file after it changed, by result (ok, error: the previous certificate stays).",
		}, []string{"result"})}
	if reg != nil {
		if err := reg.Register(f.reloads); err != nil {
			return nil, fmt.Errorf("tlsconf: registering metrics: %w", err)
		}
	}
	if err := f.load(); err != nil {
		return nil, err
	}
	f.checked = f.now()
	return f, nil
}

// load reads the pair; it records the files' stamps even when the pair is
// bad, so that a bad pair is reported once, not at every check.
func (f *certFile) load() error {
	ca, cerr := statFile(f.certPath)
	ka, kerr := statFile(f.keyPath)
	f.certAt, f.keyAt = ca, ka
	if cerr != nil {
		return fmt.Errorf("TLS certificate: %w", cerr)
	}
	if kerr != nil {
		return fmt.Errorf("TLS key: %w", kerr)
	}
	c, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		return fmt.Errorf("loading the TLS certificate %s and key %s: %w", f.certPath, f.keyPath, err)
	}
	f.cert = &c
	return nil
}

// GetCertificate serves tls.Config.GetCertificate.
func (f *certFile) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.checked) >= reloadCheckInterval {
		f.checked = now
		ca, cerr := statFile(f.certPath)
		ka, kerr := statFile(f.keyPath)
		if (cerr == nil && kerr == nil) && (ca != f.certAt || ka != f.keyAt) {
			if err := f.load(); err != nil {
				f.reloads.WithLabelValues("error").Inc()
				f.log.Error("The changed TLS certificate does not load; serving the previous one", "err", err)
			} else {
				f.reloads.WithLabelValues("ok").Inc()
				f.log.Info("Reloaded the TLS certificate", "cert", f.certPath)
			}
		}
	}
	return f.cert, nil
}
