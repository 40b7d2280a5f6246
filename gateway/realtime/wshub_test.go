package realtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// BenchmarkHubFanout: one op publishes a state change of two events to a
// workspace with n subscribers; the hub's shards write them to n real
// loopback sockets, each read by a client that counts the events. The
// clients must have read everything before the clock stops.
func BenchmarkHubFanout(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) { benchHubFanout(b, n) })
	}
}

func benchHubFanout(b *testing.B, n int) {
	const window = 64 // ops published before waiting for the clients
	bc := actors.NewBroadcaster("bench", 1024, 4*window)
	var wg sync.WaitGroup
	hub := newHub(wsShardCount())
	hub.Start(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ws := engine.NewID(time.Unix(0, 0))
	var seen atomic.Int64 // events read by all clients together
	var sessions []*wsSession
	var clients sync.WaitGroup
	for range n {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		clients.Go(func() { countEvents(cc, &seen) })
		sess := benchSession(hub, hub.assign(), sc)
		sub, _, err := bc.SubscribeNotify(ws, actors.Filter{}, nil, func() { sess.shard.mark(sess) })
		if err != nil {
			b.Fatal(err)
		}
		sess.sub = sub
		sessions = append(sessions, sess)
	}
	data := map[string]string{"text": strings.Repeat("x", 200)}
	events := []engine.Event{{Type: "message.created", WorkspaceID: ws, Data: data},
		{Type: "conversation.updated", WorkspaceID: ws, Data: data}}
	wait := func(ops int) {
		for seen.Load() < int64(2*n*ops) {
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		bc.Publish(events)
		if (i+1)%window == 0 {
			wait(i + 1)
		}
	}
	wait(b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
	for _, sess := range sessions {
		sess.stop()
		_ = sess.t.Close()
	}
	if err := hub.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	clients.Wait()
}

// countEvents reads server frames from c and adds the events each text
// frame holds to seen, until c fails.
func countEvents(c net.Conn, seen *atomic.Int64) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	var payload []byte
	for {
		op, p, err := readServerFrame(r, payload)
		if err != nil {
			return
		}
		if op == websocket.TextMessage {
			seen.Add(int64(bytes.Count(p, []byte(`"seq":`))))
		}
		payload = p
	}
}

// readServerFrame reads one final, unmasked frame into buf's space.
func readServerFrame(r *bufio.Reader, buf []byte) (op int, payload []byte, err error) {
	var head [10]byte
	if _, err := io.ReadFull(r, head[:2]); err != nil {
		return 0, nil, err
	}
	if head[0]&0xf0 != 0x80 || head[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("frame header %x: not final and unmasked", head[:2])
	}
	size := uint64(head[1] & 0x7f)
	switch size {
	case 126:
		if _, err := io.ReadFull(r, head[2:4]); err != nil {
			return 0, nil, err
		}
		size = uint64(binary.BigEndian.Uint16(head[2:4]))
	case 127:
		if _, err := io.ReadFull(r, head[2:10]); err != nil {
			return 0, nil, err
		}
		size = binary.BigEndian.Uint64(head[2:10])
	}
	payload = append(buf[:0], make([]byte, size)...)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return int(head[0] & 0x0f), payload, nil
}

// chunkTransport is a test transport: a non-blocking write takes at most
// take bytes, a blocking one the rest; out is everything written.
type chunkTransport struct {
	mu     sync.Mutex
	out    bytes.Buffer
	take   int
	closed bool
}

func (t *chunkTransport) TryWrite(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, net.ErrClosed
	}
	n := min(t.take, len(b))
	t.out.Write(b[:n])
	return n, nil
}

func (t *chunkTransport) Write(b []byte, _ time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return net.ErrClosed
	}
	t.out.Write(b)
	return nil
}

func (t *chunkTransport) Bound(time.Time) {}

func (t *chunkTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return nil
}

// TestSessionWriterKeepsFramesWhole: events written by a shard that the
// transport takes a few bytes at a time, and pongs written meanwhile by
// another goroutine (the reader's), reach the stream as whole frames:
// every event in order, every pong with its payload, nothing between
// the parts of a frame.
func TestSessionWriterKeepsFramesWhole(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	defer wg.Wait()
	hub := newHub(2)
	hub.Start(context.Background())
	defer func() { require.NoError(t, hub.Shutdown(context.Background())) }()
	bc := actors.NewBroadcaster("test", 1024, 1024)
	tr := &chunkTransport{take: 7}
	sess := &wsSession{h: hub, shard: hub.assign(), t: tr}
	ws := engine.NewID(time.Unix(0, 0))
	sub, _, err := bc.SubscribeNotify(ws, actors.Filter{}, nil, func() { sess.shard.mark(sess) })
	require.NoError(t, err)
	sess.sub = sub
	defer sess.stop()
	const groups = 500
	var published atomic.Bool
	pongs := 0
	var senders sync.WaitGroup
	senders.Go(func() { // pongs as long as events are published
		for ; !published.Load() || pongs < 100; pongs++ {
			assert.True(t, sess.sendNow(websocket.PongMessage, fmt.Appendf(nil, "p%d", pongs)))
			runtime.Gosched()
		}
	})
	data := map[string]string{"text": "hello"}
	for range groups {
		bc.Publish([]engine.Event{{Type: "message.created", WorkspaceID: ws, Data: data},
			{Type: "conversation.updated", WorkspaceID: ws, Data: data}})
		runtime.Gosched()
	}
	published.Store(true)
	senders.Wait()
	seq := regexp.MustCompile(`"seq":(\d+)`)
	// read parses what was written so far: whole frames only (the last
	// one may still be being written: it is not counted).
	read := func() (events, pongSeen int) {
		tr.mu.Lock()
		stream := bytes.Clone(tr.out.Bytes())
		tr.mu.Unlock()
		r := bufio.NewReader(bytes.NewReader(stream))
		for {
			op, p, err := readServerFrame(r, nil)
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return events, pongSeen
			}
			require.NoError(t, err)
			switch op {
			case websocket.TextMessage:
				for _, m := range seq.FindAllSubmatch(p, -1) {
					events++
					require.Equal(t, strconv.Itoa(events), string(m[1]), "events in order")
				}
			case websocket.PongMessage:
				require.Equal(t, fmt.Sprintf("p%d", pongSeen), string(p))
				pongSeen++
			default:
				t.Fatalf("frame kind %d", op)
			}
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		events, pongSeen := read()
		if events == 2*groups && pongSeen == pongs {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d events and %d pongs written", events, pongSeen)
	}
}

// benchSession is a session writing to c, with no reader.
func benchSession(h *Hub, sh *wsShard, c net.Conn) *wsSession {
	return &wsSession{h: h, shard: sh, t: newNetTransport(c)}
}
