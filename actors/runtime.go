package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Runtime. Zero values mean the documented defaults.
type Config struct {
	// Store is the open store. Required; the Runtime does not close it.
	Store *persistence.Store
	// Clock drives every timer (AI reactivation, follow-ups, passivation,
	// send backoff); nil means the real clock. Tests inject a fake.
	Clock clockwork.Clock
	// IDs makes the ids of the messages the rules create; nil means
	// engine.NewID. Tests may inject engine.SeededIDs.
	IDs engine.IDSource
	// Logger receives the runtime's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the runtime's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Settings are the workspace rules (AI reactivation delay).
	Settings engine.Settings
	// Sender delivers outbound messages; nil fails every send with
	// "no channel sender".
	Sender Sender
	// Agent answers customers in AI mode; nil means no AI replies. Agents,
	// when set, takes its place.
	Agent Agent
	// Agents picks the agent and its policy per channel account; nil
	// means Agent for every conversation, with the default policy.
	Agents AgentResolver
	// AIDebounce is how long the AI waits after a customer message for
	// more before answering the burst once; zero means 2 seconds,
	// negative means no wait. A policy may set its own.
	AIDebounce time.Duration
	// MaxInFlight bounds inbound messages accepted and not yet committed;
	// beyond it Ingest returns ErrOverloaded. Zero means 8192.
	MaxInFlight int
	// IdleTimeout is how long a conversation actor stays in memory with
	// nothing to do; zero means 2 minutes.
	IdleTimeout time.Duration
	// AgentWorkers bounds concurrent AI calls; zero means 16.
	AgentWorkers int
	// AgentQueue bounds AI requests waiting for a worker; zero means 4096.
	AgentQueue int
	// AgentTimeout bounds one AI call; zero means 60 seconds.
	AgentTimeout time.Duration
	// CourierWorkers bounds concurrent sends; zero means 16.
	CourierWorkers int
	// SendAttempts is how many times a temporary send error is tried
	// before the message fails; zero means 5.
	SendAttempts int
	// SendTimeout bounds one send call; zero means 30 seconds.
	SendTimeout time.Duration
	// RingSize is how many recent events per workspace are kept for
	// resume; zero means 4096.
	RingSize int
	// SubscriberQueue bounds events queued for one subscriber; zero means
	// 1024.
	SubscriberQueue int
	// Epoch names this server run in the realtime protocol; empty means a
	// new id.
	Epoch string
	// SegmentSweep is how often contacts whose segment time conditions
	// came due are evaluated again; zero means DefaultSegmentSweep.
	SegmentSweep time.Duration
	// WebhookClient posts the automations' call_webhook actions; nil
	// means a client with a 10-second timeout that follows no redirect.
	WebhookClient *http.Client
	// RetentionEvery is how often the retention worker applies the
	// workspaces' retention policies; zero means DefaultRetentionEvery.
	RetentionEvery time.Duration
	// RetentionBatch is how many conversations the worker visits between
	// two commits of its progress; zero means DefaultRetentionBatch.
	RetentionBatch int
	// RetentionPace is the worker's pause after each batch; zero means
	// DefaultRetentionPace, negative none.
	RetentionPace time.Duration
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxInFlight, 8192)
	def(&c.AgentWorkers, 16)
	def(&c.AgentQueue, 4096)
	def(&c.CourierWorkers, 16)
	def(&c.SendAttempts, 5)
	def(&c.RingSize, 4096)
	def(&c.SubscriberQueue, 1024)
	if c.AIDebounce == 0 {
		c.AIDebounce = 2 * time.Second
	}
	if c.Agents == nil && c.Agent != nil {
		c.Agents = staticResolver{c.Agent}
	}
	if c.IDs == nil {
		c.IDs = engine.NewID
	}
	defd(&c.IdleTimeout, 2*time.Minute)
	defd(&c.AgentTimeout, 60*time.Second)
	defd(&c.SendTimeout, 30*time.Second)
	defd(&c.SegmentSweep, DefaultSegmentSweep)
	defd(&c.RetentionEvery, DefaultRetentionEvery)
	def(&c.RetentionBatch, DefaultRetentionBatch)
	if c.RetentionPace == 0 {
		c.RetentionPace = DefaultRetentionPace
	}
	if c.Epoch == "" {
		c.Epoch = engine.NewID(c.Clock.Now()).String()
	}
	return c
}

// Runtime runs the conversation actors and everything around them. Build
// it with New, start it with Start, stop it with Shutdown.
type Runtime struct {
	cfg Config
	// knowledge ranks the agents' knowledge passages once set
	// (SetKnowledgeSearcher); nil means BM25 alone.
	knowledge atomic.Pointer[KnowledgeSearcher]
	// outbox stages what must be delivered of the events into the
	// batch that commits them, once set (SetEventOutbox).
	outbox atomic.Pointer[EventOutbox]
	// aiQuota, when set, says whether a workspace may have another AI
	// reply (its plan's monthly limit).
	aiQuota    atomic.Pointer[AIReplyQuota]
	store      *persistence.Store
	clock      clockwork.Clock
	log        *slog.Logger
	system     *actor.ActorSystem
	supervisor actor.SupervisorStrategy
	dispatcher *poolDispatcher
	dir        *directory
	bc         *Broadcaster
	tk         *timekeeper
	ix         *indexer
	courier    *courier
	agents     *agentPool
	debounce   *debouncer
	lang       *languageDetector
	metrics    *runtimeMetrics
	aiMetrics  *agentMetrics
	pipes      pipelineDefs
	autos      *automationRunner
	// webhookClient posts the automations' call_webhook actions.
	webhookClient *http.Client
	segs          segmentDefs
	retention     *retentionMetrics
	// retentionRun holds a retention run, so that the worker's and a
	// direct call's never overlap.
	retentionRun sync.Mutex
	// mediaReleaser removes the media files retention freed (see
	// SetMediaReleaser).
	mediaReleaser atomic.Pointer[func(ws engine.ID, digests []string)]
	optOut        optOutDefs
	casts         *broadcastRunner

	inflight atomic.Int64
	// orphanSeq orders kept early status reports; it starts at the start
	// time in nanoseconds so that it keeps growing across restarts.
	orphanSeq atomic.Uint64

	// gate orders API calls against Shutdown: calls enter under RLock
	// while closing is false; Shutdown sets closing under Lock and then
	// waits for ops.
	gate    sync.RWMutex
	closing bool
	ops     sync.WaitGroup

	ctx      context.Context // cancelled by Shutdown; parent of every goroutine
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  atomic.Bool
	shutdown atomic.Bool
	done     chan struct{}
	// teams assigns conversations to teams once set (SetTeamAssigner).
	teams atomic.Pointer[TeamAssigner]
}

// New builds a Runtime; it starts nothing.
func New(cfg Config) (*Runtime, error) {
	if cfg.Store == nil {
		return nil, errors.New("actors: Config.Store is required")
	}
	cfg = cfg.withDefaults()
	rt := &Runtime{cfg: cfg, store: cfg.Store, clock: cfg.Clock, log: cfg.Logger, done: make(chan struct{})}
	rt.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return cfg.Logger.With("component", "protoactor")
	}))
	rt.dispatcher = newPoolDispatcher(300, 30*time.Second)
	rt.dir = newDirectory(rt)
	rt.bc = NewBroadcaster(cfg.Epoch, cfg.RingSize, cfg.SubscriberQueue)
	rt.metrics = newRuntimeMetrics(cfg.Registerer, rt)
	rt.bc.onSlow = rt.metrics.slowConsumers.Inc
	// Restart a failed conversation actor (it reloads from disk), however
	// often: one bad conversation must not take the others down.
	rt.supervisor = actor.NewOneForOneStrategy(1<<30, time.Second, func(reason any) actor.Directive {
		rt.metrics.actorsRestarts.Inc()
		return actor.RestartDirective
	})
	rt.tk = &timekeeper{rt: rt, kickc: make(chan struct{}, 1)}
	rt.ix = &indexer{rt: rt, kickc: make(chan struct{}, 1)}
	rt.store.OnSearchQueued(rt.ix.kick)
	rt.courier = newCourier(rt)
	rt.agents = newAgentPool(rt)
	rt.debounce = newDebouncer(rt)
	rt.lang = newLanguageDetector(rt, cfg.Registerer)
	rt.aiMetrics = newAgentMetrics(cfg.Registerer)
	rt.webhookClient = cfg.WebhookClient
	if rt.webhookClient == nil {
		rt.webhookClient = &http.Client{Timeout: automationWebhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	rt.autos = newAutomationRunner(rt, cfg.Registerer)
	if err := rt.autos.load(); err != nil {
		return nil, fmt.Errorf("actors: reading automations: %w", err)
	}
	rt.bc.AddTap(rt.autos.tap)
	rt.segs.jobs = make(chan segmentJob, 1024)
	rt.segs.metrics = newSegmentMetrics(cfg.Registerer)
	rt.retention = newRetentionMetrics(cfg.Registerer)
	rt.casts = newBroadcastRunner(rt, cfg.Registerer)
	rt.ctx, rt.cancel = context.WithCancel(context.Background())
	rt.orphanSeq.Store(uint64(max(cfg.Clock.Now().UnixNano(), 0)))
	return rt, nil
}

// Start starts the timekeeper, the courier (resending what the outbox
// holds), the agent pool and the passivation sweeper.
func (rt *Runtime) Start() error {
	if !rt.started.CompareAndSwap(false, true) {
		return errors.New("actors: already started")
	}
	pending, err := rt.store.Outbox()
	if err != nil {
		return fmt.Errorf("actors: reading outbox: %w", err)
	}
	rt.courier.start()
	rt.agents.start()
	rt.goroutine("timekeeper", rt.tk.run)
	rt.goroutine("passivator", rt.passivator)
	rt.goroutine("indexer", rt.ix.run)
	rt.goroutine("language", rt.lang.run)
	rt.goroutine("automations", rt.autos.run)
	rt.goroutine("segment-backfill", rt.segmentBackfiller)
	rt.goroutine("segment-sweep", rt.segmentSweeper)
	rt.goroutine("retention", rt.retentionWorker)
	if err := rt.casts.start(); err != nil {
		return fmt.Errorf("actors: %w", err)
	}
	if waiting := rt.pendingAtStart(); len(waiting) > 0 {
		rt.goroutine("ai-recovery", func(ctx context.Context) { rt.recoverPending(ctx, waiting) })
	}
	for _, e := range pending {
		if err := rt.courier.recover(e); err != nil {
			rt.log.Error("Recovering outbox entry", "conversation", e.ConversationID, "seq", e.Seq, "err", err)
		}
	}
	return nil
}

// goroutine starts f as a goroutine owned by the runtime, labelled for
// pprof; Shutdown waits for it.
func (rt *Runtime) goroutine(name string, f func(ctx context.Context)) {
	rt.wg.Add(1)
	go pprof.Do(rt.ctx, pprof.Labels("parley", name), func(ctx context.Context) {
		defer rt.wg.Done()
		f(ctx)
	})
}

// Shutdown stops intake, waits for calls in progress and for the sends
// in flight (whose answers are recorded; queued sends stay in the outbox
// for the next start), stops the background loops (AI calls in progress
// are cancelled: the customer stays waiting and is asked for again at
// start) and the actors, and closes subscriptions; each wait ends with
// ctx. It does not close the store. Safe to call more than once; later calls wait too.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	if !rt.shutdown.CompareAndSwap(false, true) {
		select {
		case <-rt.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(rt.done)
	rt.gate.Lock()
	rt.closing = true
	rt.gate.Unlock()
	waited := make(chan struct{})
	go func() { rt.ops.Wait(); close(waited) }()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = fmt.Errorf("actors: shutdown: calls still in progress: %w", ctx.Err())
	}
	// Sends in flight get their answer and have it recorded (the
	// conversations' mailboxes commit it before the actors stop below):
	// cancelling them would send them again at the next start.
	if derr := rt.courier.drain(ctx); derr != nil {
		err = errors.Join(err, fmt.Errorf("actors: shutdown: %w", derr))
	}
	rt.debounce.stop()
	rt.cancel()
	rt.wg.Wait()
	rt.dir.stopAll()
	rt.casts.stopAll()
	rt.bc.Close()
	rt.system.Shutdown()
	rt.dispatcher.stop()
	return err
}

// Done is closed when Shutdown has finished.
func (rt *Runtime) Done() <-chan struct{} { return rt.done }

func (rt *Runtime) enter() error {
	rt.gate.RLock()
	defer rt.gate.RUnlock()
	if rt.closing {
		return ErrShuttingDown
	}
	rt.ops.Add(1)
	return nil
}

// Broadcaster returns the event broadcaster, for subscribers.
func (rt *Runtime) Broadcaster() *Broadcaster { return rt.bc }

// Store returns the store the runtime writes to.
func (rt *Runtime) Store() *persistence.Store { return rt.store }

// Clock returns the runtime's clock.
func (rt *Runtime) Clock() clockwork.Clock { return rt.clock }

// AIDebounce returns the debounce window applied to an agent policy that
// sets none (Config.AIDebounce with its default; negative: no wait).
func (rt *Runtime) AIDebounce() time.Duration { return rt.cfg.AIDebounce }

// IngestResult is the outcome of one inbound message.
type IngestResult struct {
	ConversationID engine.ID
	Seq            uint64
	// Duplicate is set when the channel message id was already stored:
	// the message is acknowledged and not stored again.
	Duplicate bool
	// ContactName is the conversation's contact name once the message is
	// applied (not set for a duplicate).
	ContactName string
	// Held is set for an echo kept aside (durably) while the
	// conversation's sends are in flight: it may be one of them coming
	// back (engine.EchoesUnmarked). It has no seq yet; it is stored as a
	// message only if it turns out to be a person's.
	Held bool
	Err  error
}

// Ingest stores a batch of inbound messages and returns when every one is
// committed (or failed). Messages of one conversation are committed in
// one batch, in order. Each result tells its message's fate; the error is
// for the call as a whole (ErrOverloaded, ErrShuttingDown, ctx).
func (rt *Runtime) Ingest(ctx context.Context, ins []engine.Inbound) ([]IngestResult, error) {
	if err := rt.enter(); err != nil {
		return nil, err
	}
	defer rt.ops.Done()
	start := time.Now()
	defer func() { rt.metrics.ingestSeconds.Observe(time.Since(start).Seconds()) }()
	results := make([]IngestResult, len(ins))
	n := int64(len(ins))
	if !rt.acquire(n) {
		rt.metrics.overloaded.Inc()
		return nil, ErrOverloaded
	}
	type group struct {
		ws, conv engine.ID
		idx      []int
		msg      *ingestMsg
	}
	var groups []*group
	byConv := map[engine.ID]*group{}
	sent := int64(0)
	for i := range ins {
		in := &ins[i]
		if err := in.Validate(); err != nil {
			results[i].Err = err
			continue
		}
		th, err := rt.dir.resolve(in)
		if err != nil {
			results[i].Err = fmt.Errorf("resolving conversation: %w", err)
			continue
		}
		g := byConv[th.conv]
		if g == nil {
			g = &group{ws: in.WorkspaceID, conv: th.conv, msg: &ingestMsg{reply: make(chan []IngestResult, 1)}}
			byConv[th.conv] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
		g.msg.items = append(g.msg.items, ingestItem{in: in, thread: th})
		sent++
	}
	rt.inflight.Add(sent - n) // release the slots of messages never sent
	for _, g := range groups {
		rt.dir.send(g.ws, g.conv, g.msg)
	}
	for _, g := range groups {
		select {
		case res := <-g.msg.reply:
			for j, i := range g.idx {
				results[i] = res[j]
				switch {
				case res[j].Duplicate:
					rt.metrics.duplicates.Inc()
				case res[j].Err == nil:
					rt.metrics.ingested.Inc()
				}
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return results, nil
}

// acquire takes n in-flight slots if they are free; the count never goes
// past MaxInFlight, even for a moment.
func (rt *Runtime) acquire(n int64) bool {
	for {
		cur := rt.inflight.Load()
		if cur+n > int64(rt.cfg.MaxInFlight) {
			return false
		}
		if rt.inflight.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Execute runs an inbox action on one conversation and returns once it is
// committed. Commands that change messages or send (SendHuman, Retry)
// return the stored messages in the result.
func (rt *Runtime) Execute(ctx context.Context, ws, conv engine.ID, cmd engine.Command) (engine.Result, error) {
	switch cmd.(type) {
	case engine.Receive, engine.Echo, engine.AIReply, engine.AIResumeDue, engine.FollowUpDue, engine.UpdateStatus,
		engine.AttachMedia, engine.UpdateContactName, engine.ReassignContact:
		return engine.Result{}, fmt.Errorf("%w: %T is not an inbox action", engine.ErrInvalid, cmd)
	}
	return rt.execute(ctx, ws, conv, cmd)
}

// execute runs cmd on an existing conversation through its actor and
// returns once it is committed.
func (rt *Runtime) execute(ctx context.Context, ws, conv engine.ID, cmd engine.Command) (engine.Result, error) {
	if err := rt.enter(); err != nil {
		return engine.Result{}, err
	}
	defer rt.ops.Done()
	// An unknown id is refused here, with one read, rather than by an
	// actor spawned for it: ids from clients must not cost an actor each.
	if _, err := rt.store.Conversation(ws, conv); err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return engine.Result{}, ErrNotFound
		}
		return engine.Result{}, err
	}
	msg := &commandMsg{cmd: cmd, reply: make(chan commandReply, 1)}
	rt.dir.send(ws, conv, msg)
	select {
	case r := <-msg.reply:
		return r.res, r.err
	case <-ctx.Done():
		return engine.Result{}, ctx.Err()
	}
}

// AttachMedia records where a message's fetched media is stored; the
// gateway's media fetcher calls it.
func (rt *Runtime) AttachMedia(ctx context.Context, ws, conv engine.ID, cmd engine.AttachMedia) error {
	if err := rt.enter(); err != nil {
		return err
	}
	defer rt.ops.Done()
	msg := &commandMsg{cmd: cmd, reply: make(chan commandReply, 1)}
	rt.dir.send(ws, conv, msg)
	select {
	case r := <-msg.reply:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ApplyStatus applies channel delivery reports. A report for a channel
// message id not known yet (the send call has not returned it) is kept
// and applied when it becomes known (docs/ARCHITECTURE.md, invariant 3).
func (rt *Runtime) ApplyStatus(ctx context.Context, reports []engine.StatusReport) error {
	if err := rt.enter(); err != nil {
		return err
	}
	defer rt.ops.Done()
	for i := range reports {
		r := reports[i]
		if r.WorkspaceID == engine.ZeroID || !r.Channel.Valid() || r.ChannelMessageID == "" || !r.Status.Valid() {
			return fmt.Errorf("%w: status report %d", engine.ErrInvalid, i)
		}
		mu := rt.dir.statusLock(r.WorkspaceID, r.Channel, r.ChannelMessageID)
		mu.Lock()
		ref, ok, err := rt.store.LookupChannelMessage(r.WorkspaceID, r.Channel, r.ChannelMessageID)
		if err != nil {
			mu.Unlock()
			return err
		}
		if !ok {
			b := rt.store.NewBatch()
			b.PutOrphanStatus(&r, rt.orphanSeq.Add(1))
			err := rt.store.Commit(b)
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("keeping early status: %w", err)
			}
			continue
		}
		mu.Unlock()
		msg := &statusMsg{report: r, seq: ref.Seq, reply: make(chan error, 1)}
		rt.dir.send(r.WorkspaceID, ref.ConversationID, msg)
		select {
		case err := <-msg.reply:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Watermark is a channel's report that every message the business sent
// to one user up to a point has reached a status: Messenger's delivery
// and read watermarks (At), Instagram's read receipt for one message and
// all before it (MessageID).
type Watermark struct {
	WorkspaceID      engine.ID
	Channel          engine.Channel
	ChannelAccountID string
	ExternalUserID   string
	Status           engine.DeliveryStatus
	At               time.Time
	MessageID        string
}

// ApplyWatermark applies a watermark to its conversation. A watermark for
// a user with no conversation, or naming a message not stored, does
// nothing.
func (rt *Runtime) ApplyWatermark(ctx context.Context, w Watermark) error {
	if err := rt.enter(); err != nil {
		return err
	}
	defer rt.ops.Done()
	if w.Status != engine.StatusDelivered && w.Status != engine.StatusRead {
		return fmt.Errorf("%w: watermark status %q", engine.ErrInvalid, w.Status)
	}
	th, ok, err := rt.store.LookupThread(w.WorkspaceID, w.ChannelAccountID, w.ExternalUserID)
	if err != nil || !ok {
		return err
	}
	msg := &watermarkMsg{status: w.Status, at: w.At, reply: make(chan error, 1)}
	if w.MessageID != "" {
		ref, ok, err := rt.store.LookupChannelMessage(w.WorkspaceID, w.Channel, w.MessageID)
		if err != nil || !ok || ref.ConversationID != th.ConversationID {
			return err
		}
		msg.upToSeq = ref.Seq
	}
	rt.dir.send(w.WorkspaceID, th.ConversationID, msg)
	select {
	case err := <-msg.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Conversation reads a conversation header as last committed.
func (rt *Runtime) Conversation(ws, id engine.ID) (engine.Conversation, error) {
	c, err := rt.store.Conversation(ws, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return c, ErrNotFound
	}
	return c, err
}

// List returns a page of a workspace's conversations.
func (rt *Runtime) List(ws engine.ID, q persistence.ListQuery) (persistence.ListPage, error) {
	return rt.store.List(ws, q)
}

// Messages returns a conversation's messages, newest first, before seq
// before (0: from the newest).
func (rt *Runtime) Messages(ws, conv engine.ID, before uint64, limit int) ([]engine.Message, error) {
	if _, err := rt.Conversation(ws, conv); err != nil {
		return nil, err
	}
	return rt.store.Messages(ws, conv, before, limit)
}

// Subscribe subscribes to a workspace's events; see Broadcaster.Subscribe.
func (rt *Runtime) Subscribe(ws engine.ID, f Filter, resume *uint64) (*Subscription, []*Envelope, error) {
	return rt.bc.Subscribe(ws, f, resume)
}

// Search runs a search over the conversations of workspace ws. The index
// follows commits by a few milliseconds (it is projected in the
// background), and a hit may name a conversation deleted since.
func (rt *Runtime) Search(ws engine.ID, q persistence.SearchQuery) (persistence.SearchPage, error) {
	return rt.store.Search(ws, q)
}

// Stats describes the runtime's load.
type Stats struct {
	ActiveConversations int64
	Activations         uint64
	InFlight            int64
}

// Stats returns the runtime's load figures.
func (rt *Runtime) Stats() Stats {
	return Stats{ActiveConversations: rt.dir.active.Load(), Activations: rt.dir.spawns.Load(), InFlight: rt.inflight.Load()}
}

// PassivateIdle passivates conversation actors idle since before cutoff
// and returns how many. The sweeper calls it; tests and benchmarks may.
func (rt *Runtime) PassivateIdle(cutoff time.Time) int { return rt.dir.passivateIdle(cutoff) }

func (rt *Runtime) passivator(ctx context.Context) {
	tick := rt.clock.NewTicker(rt.cfg.IdleTimeout / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.Chan():
			rt.dir.passivateIdle(now.Add(-rt.cfg.IdleTimeout))
		}
	}
}

// EventOutbox writes into b, the batch that commits events, what must be
// delivered durably about them (the outgoing webhooks' deliveries,
// docs/ARCHITECTURE.md, "Outgoing webhooks"), so that no committed event
// can miss its deliveries and they cost no commit of their own. It
// returns a function the committer calls once the batch is committed or
// dropped (nil when it staged nothing).
type EventOutbox func(b *persistence.Batch, events []engine.Event) (done func())

// SetEventOutbox makes o stage the deliveries of the events that the
// conversation and contact actors commit (nil: none).
func (rt *Runtime) SetEventOutbox(o EventOutbox) {
	if o == nil {
		rt.outbox.Store(nil)
		return
	}
	rt.outbox.Store(&o)
}

// stageEvents hands events, about to be committed in b, to the outbox.
// The returned function is never nil.
func (rt *Runtime) stageEvents(b *persistence.Batch, events []engine.Event) func() {
	o := rt.outbox.Load()
	if o == nil || len(events) == 0 {
		return func() {}
	}
	if done := (*o)(b, events); done != nil {
		return done
	}
	return func() {}
}

// AIReplyQuota is the plan's monthly allowance of AI replies
// (gateway/operator.go): TakeAIReply counts one reply of ws and reports
// whether it may be generated; when it may not, why is the system note
// of the handoff to people.
type AIReplyQuota interface {
	TakeAIReply(ws engine.ID) (ok bool, why string)
}

// SetAIReplyQuota makes q decide whether each AI reply is generated
// (nil: every one is).
func (rt *Runtime) SetAIReplyQuota(q AIReplyQuota) {
	if q == nil {
		rt.aiQuota.Store(nil)
		return
	}
	rt.aiQuota.Store(&q)
}

// SetTeamAssigner makes ta run the automations' assign_team actions
// (nil: they are skipped).
func (rt *Runtime) SetTeamAssigner(ta TeamAssigner) {
	if ta == nil {
		rt.teams.Store(nil)
		return
	}
	rt.teams.Store(&ta)
}

// SetKnowledgeSearcher makes ks find the knowledge passages given to
// the agents (nil: BM25 alone, persistence.Store.SearchKnowledge).
func (rt *Runtime) SetKnowledgeSearcher(ks KnowledgeSearcher) {
	if ks == nil {
		rt.knowledge.Store(nil)
		return
	}
	rt.knowledge.Store(&ks)
}

// searchKnowledge finds the passages of assistant asst for q.
func (rt *Runtime) searchKnowledge(ctx context.Context, ws engine.ID, asst, q string, k int) ([]engine.KnowledgePassage, error) {
	if ks := rt.knowledge.Load(); ks != nil {
		return (*ks).SearchKnowledge(ctx, ws, asst, q, k)
	}
	return rt.store.SearchKnowledge(ws, asst, q, k)
}
