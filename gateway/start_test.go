package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/stretchr/testify/require"
)

// gatewayGoroutines counts the live goroutines a gateway starts, by
// their profiler label: the WebSocket hub's shards, media downloads,
// profile lookups and the media sweeper.
func gatewayGoroutines(t *testing.T) int {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("goroutine").WriteTo(&buf, 1))
	head := regexp.MustCompile(`^(\d+) @`)
	ours := regexp.MustCompile(`^# labels: .*"parley":"(ws-shard|media|profiles|media-sweeper)"`)
	n, last := 0, 0
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := head.FindStringSubmatch(sc.Text()); m != nil {
			last, _ = strconv.Atoi(m[1])
		} else if ours.MatchString(sc.Text()) {
			n += last
		}
	}
	require.NoError(t, sc.Err())
	return n
}

// TestNewStartsNothing: gateway.New starts no goroutine; Start starts
// them, once however often it is called; Shutdown stops them all, and a
// Start after Shutdown starts nothing. Not parallel: it counts the
// process's gateway goroutines.
func TestNewStartsNothing(t *testing.T) {
	e := newEnv(t, nil)
	before := gatewayGoroutines(t)
	accounts, err := gateway.NewAccounts(e.store)
	require.NoError(t, err)
	gw, err := gateway.New(gateway.Config{Runtime: e.rt, Store: e.store, Accounts: accounts, Media: e.media,
		Graph: meta.NewClient(meta.ClientConfig{BaseURL: e.graph.srv.URL})})
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // a goroutine started would be running by now
	require.Equal(t, before, gatewayGoroutines(t), "New started goroutines")

	gw.Start()
	var started int
	eventually(t, 5*time.Second, func() error {
		// A goroutine is labelled once it runs: wait for the count to
		// stop growing.
		n := gatewayGoroutines(t)
		time.Sleep(50 * time.Millisecond)
		if started = gatewayGoroutines(t); started == before || started != n {
			return fmt.Errorf("%d gateway goroutines, then %d", n, started)
		}
		return nil
	})
	gw.Start()
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, started, gatewayGoroutines(t), "a second Start started more")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, gw.Shutdown(ctx))
	eventually(t, 5*time.Second, func() error {
		if n := gatewayGoroutines(t); n != before {
			return fmt.Errorf("%d gateway goroutines after Shutdown, want %d", n, before)
		}
		return nil
	})
	gw.Start()
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, before, gatewayGoroutines(t), "Start after Shutdown started goroutines")
}
