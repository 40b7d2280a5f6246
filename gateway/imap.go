package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/channels/email"
	"github.com/parleyhq/parley/persistence"
)

// IMAP mailboxes (docs/ARCHITECTURE.md, "Email"): an email account with
// IMAP settings has one poller goroutine, owned by the imapPollers
// supervisor, which starts it when the account is connected or changed
// and stops it when the account goes and on Shutdown. The poller alone
// reads and writes its mailbox's cursor ('s' '7' 'c'): it stores each new
// mail through the path of every inbound mail (deliverTo) and moves the
// cursor past it only once the mail is committed, so a restart neither
// loses a mail nor stores one twice (the Message-ID dedupe catches a mail
// stored just before a crash that kept the cursor from moving).
const (
	// DefaultIMAPPollInterval is how long a poller waits on IDLE before
	// it looks again without being told of a change.
	DefaultIMAPPollInterval = time.Minute
	// imapMaxBackoff bounds the wait after failed sessions.
	imapMaxBackoff = 5 * time.Minute
	// imapMaxMailBytes bounds one mail read over IMAP.
	imapMaxMailBytes = 64 << 20
	// imapUnreachableAfter is how many sessions in a row must fail to
	// connect before the account is marked unreachable.
	imapUnreachableAfter = 3
)

// imapPollers is the supervisor of the IMAP pollers, one per account.
type imapPollers struct {
	s        *Server
	log      *slog.Logger
	interval time.Duration
	backoff  time.Duration

	mu      sync.Mutex // guards by and stopped
	by      map[string]*imapPoller
	stopped bool
	wg      sync.WaitGroup
}

// imapPoller is the goroutine reading one account's mailbox.
type imapPoller struct {
	// acct is the account as last changed (its name, say; what the
	// session uses is mb, fixed for the poller's life).
	acct   atomic.Pointer[engine.ChannelAccount]
	ws     engine.ID
	id     string
	mb     email.IMAPMailbox
	cancel context.CancelFunc
	done   chan struct{}
}

func newIMAPPollers(s *Server) *imapPollers {
	p := &imapPollers{s: s, log: s.log.With("component", "imap"), interval: s.cfg.IMAPPollInterval, backoff: s.cfg.IMAPBackoff,
		by: map[string]*imapPoller{}}
	if p.interval <= 0 {
		p.interval = DefaultIMAPPollInterval
	}
	if p.backoff <= 0 {
		p.backoff = time.Second
	}
	return p
}

// start starts a poller for every account that reads a mailbox.
func (p *imapPollers) start() {
	for _, acct := range p.s.cfg.Accounts.All() {
		p.changed(acct.Channel, acct.AccountID)
	}
}

// changed starts, restarts or stops the poller of an account after it was
// connected, changed or disconnected. A disconnected account's cursors
// are deleted once its poller stopped.
func (p *imapPollers) changed(ch engine.Channel, id string) {
	if ch != engine.ChannelEmail {
		return
	}
	acct, present := p.s.cfg.Accounts.Get(ch, id)
	mb, reads := email.IMAPMailboxOf(acct)
	mb.TLS = p.s.cfg.EmailTLS
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	cur := p.by[id]
	if cur != nil && present && reads && cur.mb == mb && cur.ws == acct.WorkspaceID {
		cur.acct.Store(&acct)
		return // nothing the poller uses changed
	}
	if cur != nil {
		cur.cancel()
		<-cur.done
		delete(p.by, id)
	}
	if !present || !reads {
		if !present || (cur != nil && !reads) {
			b := p.s.cfg.Store.NewBatch()
			b.DeleteIMAPCursors(id)
			if err := p.s.cfg.Store.Commit(b); err != nil {
				p.log.Warn("Deleting an IMAP cursor failed", "account", id, "err", err)
			}
		}
		return
	}
	ctx, cancel := context.WithCancel(p.s.ctx)
	np := &imapPoller{ws: acct.WorkspaceID, id: acct.AccountID, mb: mb, cancel: cancel, done: make(chan struct{})}
	np.acct.Store(&acct)
	p.by[id] = np
	p.wg.Add(1)
	go pprof.Do(ctx, pprof.Labels("parley", "imap"), func(ctx context.Context) {
		defer p.wg.Done()
		defer close(np.done)
		p.run(ctx, np)
	})
}

// shutdown stops every poller and waits for them; a mail being stored is
// stored or not, and its cursor moves only in the first case.
func (p *imapPollers) shutdown() {
	p.mu.Lock()
	p.stopped = true
	for _, np := range p.by {
		np.cancel()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// run is the poller's loop: a session at a time, waiting after a failed
// one (doubling from the supervisor's backoff up to imapMaxBackoff).
func (p *imapPollers) run(ctx context.Context, np *imapPoller) {
	clock := p.s.cfg.Runtime.Clock()
	log := p.log.With("account", np.id, "folder", np.mb.Folder)
	wait, fails := p.backoff, 0
	for {
		err := p.session(ctx, np, log)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errIMAPProgress) {
			wait, fails = p.backoff, 0
		}
		if ie := (*email.IMAPError)(nil); errors.As(err, &ie) {
			// What the server did says how the account is; a failure of
			// Parley's own store says nothing of it.
			fails++
			r := email.IMAPHealth(err)
			if r.State != engine.HealthUnreachable || fails >= imapUnreachableAfter {
				p.s.health.Observe(*np.acct.Load(), r)
			}
			p.s.metrics.imapSessions.WithLabelValues(r.Code).Inc()
			log.Warn("IMAP session failed", "err", err, "retry_in", wait)
		} else {
			log.Error("Storing mail read over IMAP failed", "err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-clock.After(wait):
		}
		wait = min(wait*2, imapMaxBackoff)
	}
}

// errIMAPProgress marks a session that ended after it had read its
// mailbox: the next one starts without the longer waits.
var errIMAPProgress = errors.New("the session had read the mailbox")

// session logs in, selects the folder and stores every mail above the
// cursor, then waits (IDLE) for more until the context ends or the
// connection fails.
func (p *imapPollers) session(ctx context.Context, np *imapPoller, log *slog.Logger) error {
	sess, err := email.DialIMAP(ctx, np.mb)
	if err != nil {
		return err
	}
	defer sess.Close()
	validity, err := sess.Select()
	if err != nil {
		return err
	}
	store := p.s.cfg.Store
	cur, ok, err := store.IMAPCursor(np.id, np.mb.Folder)
	if err != nil {
		return err
	}
	if !ok {
		// A mailbox newly connected: the mail already in it is not
		// imported, the cursor starts after it.
		uids, err := sess.UIDsAfter(0)
		if err != nil {
			return err
		}
		cur = persistence.IMAPCursor{AccountID: np.id, Folder: np.mb.Folder, UIDValidity: validity}
		if len(uids) > 0 {
			cur.LastUID = uids[len(uids)-1]
		}
		if err := p.saveCursor(&cur); err != nil {
			return err
		}
		log.Info("IMAP mailbox connected", "uid_validity", validity, "last_uid", cur.LastUID)
	} else if cur.UIDValidity != validity {
		if err := p.renumbered(ctx, sess, np, &cur, validity, log); err != nil {
			return err
		}
	}
	p.s.health.Observe(*np.acct.Load(), engine.HealthResult{State: engine.HealthConnected})
	read := false
	for {
		if read {
			// SELECT again: a server may renumber the folder at any time
			// (and IDLE saw whatever came).
			if validity, err = sess.Select(); err != nil {
				return progress(err, read)
			}
			if validity != cur.UIDValidity {
				if err := p.renumbered(ctx, sess, np, &cur, validity, log); err != nil {
					return progress(err, read)
				}
			}
		}
		uids, err := sess.UIDsAfter(cur.LastUID)
		if err != nil {
			return progress(err, read)
		}
		for _, uid := range uids {
			if err := p.store(ctx, sess, np, uid, log); err != nil {
				return progress(err, read)
			}
			cur.LastUID = uid
			if err := p.saveCursor(&cur); err != nil {
				return progress(err, read)
			}
		}
		read = true
		if err := sess.Wait(ctx, p.s.cfg.Runtime.Clock().After(p.interval)); err != nil {
			return progress(err, read)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// renumbered follows a change of the folder's UIDVALIDITY: the server
// renumbered it, and the cursor's UID means nothing now. The mails that
// arrived since the day before the cursor last moved are read again
// (those stored already are known by their Message-ID), and the cursor
// then moves to the highest UID listed before them. Until it has, the
// stored cursor keeps the old UIDVALIDITY, so that a crash meanwhile
// reads them again at the next start.
func (p *imapPollers) renumbered(ctx context.Context, sess *email.IMAPSession, np *imapPoller, cur *persistence.IMAPCursor,
	validity uint32, log *slog.Logger) error {
	log.Warn("IMAP UIDVALIDITY changed: reading the recent mail again", "was", cur.UIDValidity, "now", validity, "since", cur.At)
	all, err := sess.UIDsAfter(0)
	if err != nil {
		return err
	}
	var last uint32
	if len(all) > 0 {
		last = all[len(all)-1]
	}
	since := cur.At.Add(-24 * time.Hour)
	recent, err := sess.UIDsSince(since)
	if err != nil {
		return err
	}
	for _, uid := range recent {
		if uid > last {
			break
		}
		if err := p.store(ctx, sess, np, uid, log); err != nil {
			return err
		}
	}
	cur.UIDValidity, cur.LastUID = validity, last
	return p.saveCursor(cur)
}

func progress(err error, read bool) error {
	if read {
		return fmt.Errorf("%w: %w", errIMAPProgress, err)
	}
	return err
}

// store fetches mail uid and stores it like a mail received over SMTP; an
// unreadable or oversized mail is skipped (logged and counted), so that
// it does not stop the mailbox.
func (p *imapPollers) store(ctx context.Context, sess *email.IMAPSession, np *imapPoller, uid uint32, log *slog.Logger) error {
	start := time.Now()
	raw, err := sess.Fetch(uid, imapMaxMailBytes)
	if err == nil && raw == nil {
		return nil // expunged meanwhile
	}
	var m *email.Mail
	if err == nil {
		m, err = email.Parse(raw)
	}
	if err == nil {
		err = p.s.deliverTo(ctx, *np.acct.Load(), m, raw)
	}
	p.s.metrics.emailSeconds.Observe(time.Since(start).Seconds())
	if errors.Is(err, email.ErrMalformed) {
		p.s.metrics.emailReceived.WithLabelValues("malformed").Inc()
		log.Warn("IMAP mail skipped", "uid", uid, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("storing mail %d: %w", uid, err)
	}
	return nil
}

// saveCursor commits the cursor in a synced batch of its own.
func (p *imapPollers) saveCursor(c *persistence.IMAPCursor) error {
	c.At = p.s.cfg.Runtime.Clock().Now().UTC()
	b := p.s.cfg.Store.NewBatch()
	b.PutIMAPCursor(c)
	if err := p.s.cfg.Store.Commit(b); err != nil {
		return fmt.Errorf("storing the IMAP cursor: %w", err)
	}
	return nil
}
