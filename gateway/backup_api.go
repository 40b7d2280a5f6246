package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/gateway/backup"
)

// backupWriteWindow is how long each write of a backup stream may take:
// the server's write timeout bounds a whole answer, which a large backup
// outlasts, so the deadline moves on with every write instead.
const backupWriteWindow = 30 * time.Second

// backupBuilt, when set (by a test), runs once a backup is built, before
// it is sent, while it holds the backup slot.
var backupBuilt func()

// errBackupShared refuses a workspace's backup call on a server that
// holds other workspaces too.
var errBackupShared = &apiError{fiber.StatusForbidden, "server_backup",
	"this server holds several workspaces and a backup holds them all: back up the data directory (parley backup without -token) as the server's operator"}

// backup answers POST /api/v1/admin/backup (owners): a consistent backup
// of the whole data directory (docs/ARCHITECTURE.md, "Backups") as a tar
// stream, manifest first. It is built in a directory of its own under
// Config.BackupDir, hard-linked where it can be, then streamed and
// removed. One backup at a time: another asked meanwhile gets 409.
func (s *Server) backup(c *fiber.Ctx) error {
	// A backup holds every workspace: the operator takes it always, a
	// workspace's owner only while theirs is the server's only one
	// (docs/ARCHITECTURE.md, "People in several workspaces").
	if !s.isOperator(c) {
		wss, err := s.cfg.Store.Workspaces()
		if err != nil {
			return err
		}
		if len(wss) > 1 {
			return errBackupShared
		}
	}
	select {
	case s.backups <- struct{}{}:
	default:
		return errorf(fiber.StatusConflict, "backup_in_progress", "a backup is being made; retry once it is done")
	}
	began := time.Now()
	done := func(ok bool) {
		result := "error"
		if ok {
			result = "ok"
		}
		s.metrics.backups.WithLabelValues(result).Inc()
		s.metrics.backupSeconds.Observe(time.Since(began).Seconds())
		<-s.backups
	}
	base := s.cfg.BackupDir
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o750); err != nil {
		done(false)
		return fmt.Errorf("making a backup: %w", err)
	}
	tmp, err := os.MkdirTemp(base, "backup-")
	if err != nil {
		done(false)
		return fmt.Errorf("making a backup: %w", err)
	}
	dir := filepath.Join(tmp, "backup")
	m, err := backup.Create(s.cfg.Store, s.media, dir, s.cfg.Runtime.Clock().Now(), s.cfg.Version)
	if err != nil {
		_ = os.RemoveAll(tmp)
		done(false)
		return fmt.Errorf("making a backup: %w", err)
	}
	s.log.Info("Backup made; sending it", "files", len(m.Files), "bytes", m.Bytes(), "took", time.Since(began))
	conn := c.Context().Conn()
	c.Set(fiber.HeaderContentType, "application/x-tar")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="parley-backup-%s.tar"`, m.CreatedAt.Format("20060102T150405Z")))
	c.Set(fiber.HeaderCacheControl, "no-store")
	// fasthttp runs the stream writer in a goroutine of its own, which
	// ends when the answer is written or the client is gone.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer os.RemoveAll(tmp)
		if backupBuilt != nil {
			backupBuilt()
		}
		err := backup.WriteTar(deadlineWriter{w: w, conn: conn}, dir, m)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			s.log.Warn("Sending a backup", "err", err)
			done(false)
			return
		}
		s.metrics.backupLastSuccess.Set(float64(m.CreatedAt.UnixNano()) / 1e9)
		done(true)
	})
	return nil
}

// deadlineWriter moves conn's write deadline backupWriteWindow ahead
// before each write to w.
type deadlineWriter struct {
	w    io.Writer
	conn net.Conn
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	if d.conn != nil {
		_ = d.conn.SetWriteDeadline(time.Now().Add(backupWriteWindow))
	}
	return d.w.Write(p)
}
