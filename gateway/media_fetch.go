package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/parleyhq/parley/engine"
)

// mediaJob is an inbound media file to fetch from the channel.
type mediaJob struct {
	ws, conv engine.ID
	seq      uint64
	account  engine.ChannelAccount
	media    engine.Media
}

// fetchMedia downloads one inbound file and attaches it to its message.
func (s *Server) fetchMedia(ctx context.Context, j mediaJob) error {
	var (
		data     []byte
		mimeType string
		err      error
	)
	if j.account.Channel == engine.ChannelAPI {
		// An integrator's file URL gets no credential, through the
		// client that keeps to -api-channel-allow-private.
		data, mimeType, err = s.apiClient.Download(ctx, j.media.URL)
	} else if j.account.Channel == engine.ChannelWhatsApp && j.media.Ref != "" {
		m, ferr := s.cfg.Graph.FetchWhatsAppMedia(ctx, j.media.Ref, j.account.AccessToken)
		data, mimeType, err = m.Data, m.MimeType, ferr
	} else if j.media.URL != "" {
		m, ferr := s.cfg.Graph.Download(ctx, j.media.URL, j.account.AccessToken)
		data, mimeType, err = m.Data, m.MimeType, ferr
	} else {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fetching media: %w", err)
	}
	if mimeType == "" {
		mimeType = j.media.MimeType
	}
	key, digest, size, err := s.media.Put(j.ws, mimeType, strings.NewReader(string(data)))
	if err != nil {
		return err
	}
	defer s.media.Unpin(j.ws, digest) // after AttachMedia committed its reference
	return s.cfg.Runtime.AttachMedia(ctx, j.ws, j.conv, engine.AttachMedia{Seq: j.seq, StorageKey: key, SHA256: digest, Size: size, MimeType: mimeType})
}

// mediaWorker fetches queued media until ctx ends, or until Shutdown
// closes mediaDrain and the queue is empty: the files of webhooks
// answered before the shutdown are fetched while its deadline allows.
func (s *Server) mediaWorker(ctx context.Context) {
	for {
		var j mediaJob
		select {
		case <-ctx.Done():
			return
		case j = <-s.mediaJobs:
		case <-s.mediaDrain:
			select {
			case j = <-s.mediaJobs:
			default:
				return
			}
		}
		var err error
		for attempt := range 3 {
			if err = s.fetchMedia(ctx, j); err == nil || ctx.Err() != nil {
				break
			}
			s.log.Warn("Fetching media failed", "conversation", j.conv, "seq", j.seq, "attempt", attempt+1, "err", err)
		}
		if err != nil {
			s.metrics.mediaFailures.Inc()
			s.log.Error("Giving up on media", "conversation", j.conv, "seq", j.seq, "err", err)
		}
	}
}

func (s *Server) enqueueMedia(j mediaJob) {
	select {
	case s.mediaJobs <- j:
	default:
		s.metrics.mediaFailures.Inc()
		s.log.Warn("Media queue full; file not fetched", slog.String("conversation", j.conv.String()), slog.Uint64("seq", j.seq))
	}
}
