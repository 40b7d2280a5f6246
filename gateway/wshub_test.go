package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	hub := newWSHub(wsShardCount())
	hub.start(ctx, &wg)
	srv := &Server{metrics: newGatewayMetrics(nil)}
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
		sess := benchSession(srv, hub.assign(), sc)
		sub, _, err := bc.SubscribeNotify(ws, actors.Filter{}, nil, func() { sess.shard.mark(sess) })
		if err != nil {
			b.Fatal(err)
		}
		sess.sub = sub
		sessions = append(sessions, sess)
		wg.Go(sess.writeLoop)
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
		close(sess.quit)
		_ = sess.nc.Close()
	}
	cancel()
	wg.Wait()
	clients.Wait()
}

// countEvents reads server frames (unmasked, unfragmented) from c and
// adds the events each holds to seen, until c fails.
func countEvents(c net.Conn, seen *atomic.Int64) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	var head [10]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, head[:2]); err != nil {
			return
		}
		size := uint64(head[1] & 0x7f)
		switch size {
		case 126:
			if _, err := io.ReadFull(r, head[2:4]); err != nil {
				return
			}
			size = uint64(binary.BigEndian.Uint16(head[2:4]))
		case 127:
			if _, err := io.ReadFull(r, head[2:10]); err != nil {
				return
			}
			size = binary.BigEndian.Uint64(head[2:10])
		}
		payload = append(payload[:0], make([]byte, size)...)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		if head[0]&0x0f == 1 {
			seen.Add(int64(bytes.Count(payload, []byte(`"seq":`))))
		}
	}
}

// benchSession is a session writing to c, with no reader.
func benchSession(s *Server, sh *wsShard, c net.Conn) *wsSession {
	sess := &wsSession{s: s, shard: sh, nc: c, drain: make(chan struct{}, 1), quit: make(chan struct{})}
	sess.raw = rawConn(c)
	return sess
}
