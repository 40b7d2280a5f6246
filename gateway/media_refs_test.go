package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/persistence"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func hexSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// mediaPath is where the media store keeps a file of the env's workspace.
func (e *env) mediaPath(digest string) string {
	return filepath.Join(e.dir, "media", e.ws.String(), digest)
}

// sendFile uploads data as an image to conversation conv and returns the
// status and body of the answer.
func (e *env) sendFile(conv engine.ID, name string, data []byte) (int, []byte) {
	e.t.Helper()
	return e.upload("/api/v1/conversations/"+conv.String()+"/messages", "file", name, "image/png", data, nil)
}

// requireMedia checks that GET /api/v1/media/{digest} serves want and that
// the file is on disk, or, with want nil, that neither is there.
func (e *env) requireMedia(digest string, want []byte) {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/media/"+digest, ownerToken, nil)
	_, statErr := os.Stat(e.mediaPath(digest))
	_, typeErr := os.Stat(e.mediaPath(digest) + ".type")
	if want == nil {
		require.Equal(e.t, http.StatusNotFound, code, string(body))
		require.ErrorIs(e.t, statErr, os.ErrNotExist)
		require.ErrorIs(e.t, typeErr, os.ErrNotExist)
		return
	}
	require.Equal(e.t, http.StatusOK, code, string(body))
	require.Equal(e.t, want, body)
	require.NoError(e.t, statErr)
	require.NoError(e.t, typeErr)
}

// TestSharedMediaOutlivesOneConversation: a file sent in two
// conversations is stored once; deleting one conversation leaves it
// readable through the other, deleting the second removes it from disk.
// (Before the media reference index, deleting the first conversation
// deleted the shared file.)
func TestSharedMediaOutlivesOneConversation(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.Registerer = reg })
	e.webhook(engine.ChannelWhatsApp, waText("wamid.sh.1", "15550201", "A", "hello"))
	e.webhook(engine.ChannelWhatsApp, waText("wamid.sh.2", "15550202", "B", "hello"))
	a := e.thread(engine.ChannelWhatsApp, phoneID, "15550201")
	b := e.thread(engine.ChannelWhatsApp, phoneID, "15550202")
	data := []byte("the shared price list")
	digest := hexSHA256(data)
	for _, conv := range []engine.ID{a, b} {
		code, body := e.sendFile(conv, "prices.png", data)
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	other := []byte("only in a")
	code, body := e.sendFile(a, "a.png", other)
	require.Equal(t, http.StatusCreated, code, string(body))
	refs, err := e.store.MediaRefs(e.ws, digest, 0)
	require.NoError(t, err)
	require.Len(t, refs, 2)

	code, body = e.api("DELETE", "/api/v1/conversations/"+a.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	e.requireMedia(digest, data)
	e.requireMedia(hexSHA256(other), nil) // a's own file went with it
	require.Equal(t, 1.0, counterValue(t, reg, "parley_media_files_deleted_total", "released"))
	require.Equal(t, float64(len(other)), counterValue(t, reg, "parley_media_deleted_bytes_total", "released"))

	code, body = e.api("DELETE", "/api/v1/conversations/"+b.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	e.requireMedia(digest, nil)
	require.Equal(t, 2.0, counterValue(t, reg, "parley_media_files_deleted_total", "released"))
	require.Equal(t, float64(len(other)+len(data)), counterValue(t, reg, "parley_media_deleted_bytes_total", "released"))
}

// TestInboundMediaIsReferenced: a file fetched from the channel for an
// inbound message is referenced by that message, so deleting another
// conversation that sent the same file keeps it.
func TestInboundMediaIsReferenced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	data := []byte("photo of the broken box")
	digest := hexSHA256(data)
	e.graph.mu.Lock()
	e.graph.media["MEDIA_BOX"] = data
	e.graph.mu.Unlock()
	e.webhook(engine.ChannelWhatsApp, waText("wamid.in.1", "15550301", "A", "hello"))
	a := e.thread(engine.ChannelWhatsApp, phoneID, "15550301")
	code, body := e.sendFile(a, "box.png", data)
	require.Equal(t, http.StatusCreated, code, string(body))

	payload := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"%s"},"contacts":[{"profile":{"name":"P"},"wa_id":"15550302"}],"messages":[{"from":"15550302","id":"wamid.img.box","timestamp":"1750000000","type":"image","image":{"id":"MEDIA_BOX","mime_type":"image/png"}}]}}]}]}`, phoneID)
	code, body = e.webhook(engine.ChannelWhatsApp, payload)
	require.Equal(t, http.StatusOK, code, string(body))
	b := e.thread(engine.ChannelWhatsApp, phoneID, "15550302")
	eventually(t, 5*time.Second, func() error {
		if m := e.messages(b)[0]; m.Media == nil || m.Media.StorageKey == "" {
			return fmt.Errorf("media not fetched")
		}
		return nil
	})
	refs, err := e.store.MediaRefs(e.ws, digest, 0)
	require.NoError(t, err)
	require.Contains(t, refs, persistence.MessageRef{ConversationID: b, Seq: e.messages(b)[0].Seq})

	code, body = e.api("DELETE", "/api/v1/conversations/"+a.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	e.requireMedia(digest, data)
}

// TestSweeperRemovesRefusedUpload: a file uploaded with a send that is
// refused (the 24-hour window closed) is referenced by no message; the
// sweeper removes it once it has stayed so for the grace period, on the
// injected clock, and leaves a referenced file older than that alone.
func TestSweeperRemovesRefusedUpload(t *testing.T) {
	t.Parallel()
	const interval, grace = 10 * time.Minute, time.Hour
	clock := clockwork.NewFakeClockAt(time.Now())
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, func(c *actors.Config) { c.Clock = clock }, func(c *gateway.Config) {
		c.Registerer, c.MediaSweepInterval, c.MediaOrphanGrace = reg, interval, grace
	})
	advance := func(d time.Duration) { advanceSweep(t, clock, reg, d) }

	e.webhook(engine.ChannelWhatsApp, waText("wamid.sw.1", "15550401", "A", "hello"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550401")
	kept := []byte("the file that was sent")
	code, body := e.sendFile(conv, "kept.png", kept)
	require.Equal(t, http.StatusCreated, code, string(body))

	advance(25 * time.Hour) // the window closes; a sweep runs
	orphan := []byte("the file of a refused send")
	code, body = e.sendFile(conv, "orphan.png", orphan)
	require.Equal(t, http.StatusUnprocessableEntity, code, string(body))
	require.Equal(t, "outside_window", errorCode(t, body))
	uploaded := clock.Now()
	e.requireMedia(hexSHA256(orphan), orphan) // stored, referenced by nothing

	// No sweep deletes it before it has been unreferenced for the grace
	// period; the first sweep after it saw it at most one interval late.
	for clock.Since(uploaded) < grace {
		advance(interval)
		if clock.Since(uploaded) < grace {
			e.requireMedia(hexSHA256(orphan), orphan)
		}
	}
	advance(interval)
	eventually(t, 5*time.Second, func() error {
		if _, err := os.Stat(e.mediaPath(hexSHA256(orphan))); err == nil {
			return fmt.Errorf("the orphan is still there")
		}
		return nil
	})
	e.requireMedia(hexSHA256(orphan), nil)
	e.requireMedia(hexSHA256(kept), kept) // referenced, 26 hours old
	require.Equal(t, 1.0, counterValue(t, reg, "parley_media_files_deleted_total", "orphaned"))
	require.Equal(t, float64(len(orphan)), counterValue(t, reg, "parley_media_deleted_bytes_total", "orphaned"))
	require.Equal(t, 0.0, counterValue(t, reg, "parley_media_sweep_errors_total", ""))
}

// advanceSweep advances clock by d and waits for a media sweep to end
// (one the tick moved, or one that was under way).
func advanceSweep(t *testing.T, clock *clockwork.FakeClock, reg *prometheus.Registry, d time.Duration) {
	t.Helper()
	before := counterValue(t, reg, "parley_media_sweeps_total", "")
	clock.Advance(d)
	eventually(t, 5*time.Second, func() error {
		if n := counterValue(t, reg, "parley_media_sweeps_total", ""); n <= before {
			return fmt.Errorf("%v sweeps", n)
		}
		return nil
	})
}

// counterValue returns the value of counter name in reg, with label
// value label (the metric's only label), or without labels when label is
// empty.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	js, _ := json.Marshal(name)
	t.Fatalf("no counter %s{%s}", js, label)
	return 0
}

// TestMediaStoredBeforeTheIndexIsKept: files of messages written before
// the media reference index existed get their references from the
// backfill at open, so the sweeper leaves them alone.
func TestMediaStoredBeforeTheIndexIsKept(t *testing.T) {
	t.Parallel()
	const interval, grace = 10 * time.Minute, time.Hour
	clock := clockwork.NewFakeClockAt(time.Now())
	var reg *prometheus.Registry
	e := newEnvWith(t, func(c *actors.Config) { c.Clock = clock }, func(c *gateway.Config) {
		reg = prometheus.NewRegistry() // one per start
		c.Registerer, c.MediaSweepInterval, c.MediaOrphanGrace = reg, interval, grace
	})
	e.webhook(engine.ChannelWhatsApp, waText("wamid.old.1", "15550501", "A", "hello"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550501")
	data := []byte("a file from before the index")
	code, body := e.sendFile(conv, "old.png", data)
	require.Equal(t, http.StatusCreated, code, string(body))

	// Reopen the data as an older Parley left it: no references.
	e.stop()
	store, err := persistence.Open(persistence.Options{Dir: e.dir + "/db"})
	require.NoError(t, err)
	require.NoError(t, store.ForgetMediaRefs(e.ws))
	ok, err := store.MediaReferenced(e.ws, hexSHA256(data))
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, store.Close())
	e.start()

	ok, err = e.store.MediaReferenced(e.ws, hexSHA256(data))
	require.NoError(t, err)
	require.True(t, ok, "the backfill at open wrote the reference back")
	for range 2 * grace / interval {
		advanceSweep(t, clock, reg, interval)
	}
	e.requireMedia(hexSHA256(data), data)
	require.Equal(t, 0.0, counterValue(t, reg, "parley_media_files_deleted_total", "orphaned"))
}
