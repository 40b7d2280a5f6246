package gateway_test

import (
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/parleyhq/parley/gateway/channels/meta"
)

func signFor(payload string) string { return meta.Sign([]byte(payload), []byte(appSecret)) }

func clockworkAt(t time.Time) clockwork.Clock { return clockwork.NewFakeClockAt(t) }
