package gateway

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/gateway/media"
)

// convParam parses the :conv route parameter.
func convParam(c *fiber.Ctx) (engine.ID, error) { return idParam(c, "conv") }

func (s *Server) getConversation(c *fiber.Ctx) error {
	id, err := convParam(c)
	if err != nil {
		return err
	}
	conv, err := s.cfg.Runtime.Conversation(who(c).WorkspaceID, id)
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(conv)
}

func (s *Server) listMessages(c *fiber.Ctx) error {
	id, err := convParam(c)
	if err != nil {
		return err
	}
	before, err := uintQuery(c, "before", 0)
	if err != nil {
		return err
	}
	limit, err := uintQuery(c, "limit", 50)
	if err != nil {
		return err
	}
	if limit == 0 || limit > 200 {
		return errorf(fiber.StatusBadRequest, "bad_query", "limit must be 1 to 200")
	}
	msgs, err := s.cfg.Runtime.Messages(who(c).WorkspaceID, id, before, int(limit))
	if err != nil {
		return fromEngine(err)
	}
	if msgs == nil {
		msgs = []engine.Message{}
	}
	return c.JSON(fiber.Map{"messages": msgs})
}

func uintQuery(c *fiber.Ctx, name string, def uint64) (uint64, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, errorf(fiber.StatusBadRequest, "bad_query", "%s must be a non-negative integer", name)
	}
	return n, nil
}

type sendBody struct {
	Text string `json:"text"`
}

// sendMessage sends a human reply: JSON {"text"} or a multipart upload
// with a "file" part and an optional "caption". It takes the conversation
// over (manual mode) per invariant 4 (docs/ARCHITECTURE.md).
func (s *Server) sendMessage(c *fiber.Ctx) error {
	id, err := convParam(c)
	if err != nil {
		return err
	}
	p := who(c)
	var content engine.Content
	if strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEMultipartForm) {
		if content, err = s.uploadContent(c, p.WorkspaceID); err != nil {
			return err
		}
		// Pinned until the send below committed its reference, or was
		// refused (the file is then an orphan for the sweeper).
		defer s.media.Unpin(p.WorkspaceID, content.Media.SHA256)
	} else {
		var body sendBody
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
		content = engine.Content{Kind: engine.KindText, Text: body.Text}
	}
	res, err := s.cfg.Runtime.Execute(c.UserContext(), p.WorkspaceID, id, engine.SendHuman{UserID: p.UserID.String(), Content: content})
	if err != nil {
		return fromEngine(err)
	}
	return c.Status(fiber.StatusCreated).JSON(res.Send[0])
}

func (s *Server) uploadContent(c *fiber.Ctx, ws engine.ID) (engine.Content, error) {
	fh, err := c.FormFile("file")
	if err != nil {
		return engine.Content{}, errorf(fiber.StatusBadRequest, "bad_upload", "a multipart \"file\" part is required")
	}
	f, err := fh.Open()
	if err != nil {
		return engine.Content{}, errorf(fiber.StatusBadRequest, "bad_upload", "cannot read the uploaded file")
	}
	defer f.Close()
	mimeType := fh.Header.Get(fiber.HeaderContentType)
	key, digest, size, err := s.media.Put(ws, mimeType, f)
	if errors.Is(err, media.ErrTooLarge) {
		return engine.Content{}, errorf(fiber.StatusRequestEntityTooLarge, "body_too_large", "the file is larger than the media limit")
	}
	if err != nil {
		return engine.Content{}, err
	}
	kind := engine.KindDocument
	switch {
	case strings.HasPrefix(mimeType, "image/webp") && c.FormValue("sticker") == "true":
		kind = engine.KindSticker
	case strings.HasPrefix(mimeType, "image/"):
		kind = engine.KindImage
	case strings.HasPrefix(mimeType, "video/"):
		kind = engine.KindVideo
	case strings.HasPrefix(mimeType, "audio/"):
		kind = engine.KindAudio
	}
	return engine.Content{Kind: kind, Media: &engine.Media{StorageKey: key, SHA256: digest, Size: size,
		MimeType: media.SanitizeMime(mimeType), Filename: fh.Filename, Caption: c.FormValue("caption")}}, nil
}

func (s *Server) retryMessage(c *fiber.Ctx) error {
	id, err := convParam(c)
	if err != nil {
		return err
	}
	seq, err := strconv.ParseUint(c.Params("seq"), 10, 64)
	if err != nil {
		return errNotFound
	}
	p := who(c)
	res, err := s.cfg.Runtime.Execute(c.UserContext(), p.WorkspaceID, id, engine.Retry{Seq: seq})
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(res.Send[0])
}

// serveMedia streams a stored media file of the caller's workspace.
func (s *Server) serveMedia(c *fiber.Ctx) error {
	f, typ, err := s.media.Open(who(c).WorkspaceID, c.Params("id"))
	if errors.Is(err, os.ErrNotExist) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return sendFile(c, f, typ, "private, max-age=31536000, immutable")
}

// sendFile streams f (closed when sent) as the response.
func sendFile(c *fiber.Ctx, f *os.File, typ, cacheControl string) error {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	c.Set(fiber.HeaderContentType, typ)
	c.Set(fiber.HeaderCacheControl, cacheControl)
	c.Set("X-Content-Type-Options", "nosniff")
	return c.SendStream(f, int(st.Size()))
}

// servePublicMedia answers GET /public/media/{token}: the file a signed
// link names, with no token.
func (s *Server) servePublicMedia(c *fiber.Ctx) error {
	f, typ, err := s.media.OpenLink(c.Params("token"), time.Now())
	if errors.Is(err, media.ErrBadLink) || errors.Is(err, os.ErrNotExist) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return sendFile(c, f, typ, "public, max-age=3600")
}
