package persistence

import (
	"container/list"
	"sync"

	"github.com/parleyhq/parley/engine"
)

// snippetLag bounds how stale a forward message entry may get before the
// projection rewrites it: a token seen again fewer than snippetLag
// messages after the seq its entry holds is not written again (the
// inverted entry exists already), and a search hit looks at the
// snippetLag messages from that seq for the newest one that matches. A
// chatty conversation repeating the same words thus costs the index
// almost no writes.
const snippetLag = 16

// tokenCacheMax bounds the tokens the cache remembers over all
// conversations, and tokenCacheConvMax those of one conversation (its
// other tokens are written every time, which is always correct).
const (
	tokenCacheMax     = 1 << 18
	tokenCacheConvMax = 256
)

type convRef struct{ ws, conv engine.ID }

// tokenCache remembers, for recently projected conversations, which
// tokens have their index entries (inverted and forward message entries)
// and the seq the forward entry holds, so that the projection writes only
// what changes. It is filled after a projection batch commits and
// forgets a conversation when its entries are deleted; losing it (a
// restart) only costs rewrites. Least recently used conversations go
// first.
type tokenCache struct {
	mu    sync.Mutex
	ll    *list.List // of *cachedConv, most recent first
	convs map[convRef]*list.Element
	n     int // tokens held
}

type cachedConv struct {
	ref  convRef
	toks map[string]uint64
	// state is the header as the index last saw it (see indexedState),
	// nil when unknown.
	state *engine.Conversation
}

func newTokenCache() *tokenCache {
	return &tokenCache{ll: list.New(), convs: map[convRef]*list.Element{}}
}

// seq returns the seq the forward entry of tok in conversation r holds,
// if the cache knows it.
func (c *tokenCache) seq(r convRef, tok string) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.convs[r]
	if !ok {
		return 0, false
	}
	s, ok := e.Value.(*cachedConv).toks[tok]
	return s, ok
}

// state returns the header as the index last saw it for conversation r,
// if the cache knows it.
func (c *tokenCache) state(r convRef) *engine.Conversation {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.convs[r]; ok {
		return e.Value.(*cachedConv).state
	}
	return nil
}

// forget drops what the cache knows of conversation r.
func (c *tokenCache) forget(r convRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.convs[r]; ok {
		c.n -= len(e.Value.(*cachedConv).toks)
		c.ll.Remove(e)
		delete(c.convs, r)
	}
}

// learn records that the entries of toks (token → seq written) of
// conversation r are committed, and that state (when not nil) is what
// the index last saw of its header.
func (c *tokenCache) learn(r convRef, toks map[string]uint64, state *engine.Conversation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.convs[r]
	if ok {
		c.ll.MoveToFront(e)
	} else {
		e = c.ll.PushFront(&cachedConv{ref: r, toks: make(map[string]uint64, len(toks))})
		c.convs[r] = e
	}
	cc := e.Value.(*cachedConv)
	if state != nil {
		cc.state = state
	}
	for t, s := range toks {
		if _, had := cc.toks[t]; !had {
			if len(cc.toks) >= tokenCacheConvMax {
				continue
			}
			c.n++
		}
		cc.toks[t] = s
	}
	for c.n > tokenCacheMax && c.ll.Len() > 1 {
		last := c.ll.Back()
		lc := last.Value.(*cachedConv)
		c.n -= len(lc.toks)
		c.ll.Remove(last)
		delete(c.convs, lc.ref)
	}
}

// projection is what a projection batch will teach the token cache once
// it commits: per conversation, the tokens written and the state indexed.
type projection struct {
	convs map[convRef]*cachedConv
}

func newProjection() *projection { return &projection{convs: map[convRef]*cachedConv{}} }

func (p *projection) conv(r convRef) *cachedConv {
	c := p.convs[r]
	if c == nil {
		c = &cachedConv{ref: r, toks: map[string]uint64{}}
		p.convs[r] = c
	}
	return c
}

// learn records that the batch writes token tok of r with seq.
func (p *projection) learn(r convRef, tok string, seq uint64) { p.conv(r).toks[tok] = seq }

// indexed records the header state the batch indexes for r.
func (p *projection) indexed(r convRef, state *engine.Conversation) { p.conv(r).state = state }

// drop forgets what the batch wrote for r (its entries were deleted).
func (p *projection) drop(r convRef) { delete(p.convs, r) }

// teach hands what the committed projection wrote to the cache.
func (p *projection) teach(c *tokenCache) {
	for r, cc := range p.convs {
		c.learn(r, cc.toks, cc.state)
	}
}
