package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// CSV import and export of contacts.
//
// An import is a CSV body (Content-Type text/csv) whose header row names
// the columns: name, phone, email, company, title, country, language and
// avatar (or avatar_url) fill the profile; id, source, created_at and
// updated_at (what an export writes) are ignored; any other column is a
// custom field named by its header. The body is read as a stream, row by
// row. A row whose email or phone number (by its digits, or a WhatsApp
// identity's) matches a contact updates it (non-empty cells win);
// otherwise a contact with source "import" is created. A row that cannot
// be read or breaks a rule is counted as failed with its error; the
// others are committed in batches of importBatchRows, each followed by a
// contacts.import.progress event, and one more at the end.
const (
	// maxImportBytes bounds one import body.
	maxImportBytes = 32 << 20
	// maxImportRows bounds the data rows of one import.
	maxImportRows = 100_000
	// maxImportErrors bounds the row errors reported (all are counted).
	maxImportErrors = 1000
	// importBatchRows is how many rows one commit and one progress event
	// cover.
	importBatchRows = 500
	// exportPage is how many contacts an export reads at a time.
	exportPage = 500
)

// Errors of the CSV routes.
var (
	errNotCSV          = &apiError{fiber.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be text/csv"}
	errImportTooLarge  = &apiError{fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("an import is at most %d bytes", maxImportBytes)}
	errImportBodyLimit = errors.New("import body larger than the limit")
	errImportRows      = fmt.Errorf("an import is at most %d rows; the rows after the limit were not read", maxImportRows)
)

// csvColumn is what one CSV column holds: a profile field, a custom field
// (custom names it) or nothing.
type csvColumn struct {
	field  string // "name", "phone", ... or "" for custom and ignored
	custom string
}

// csvProfileFields are the header names that fill the profile, and the
// profile field (engine.Profile.Fields) each fills.
var csvProfileFields = map[string]string{
	"name": "name", "phone": "phone", "email": "email", "company": "company", "title": "title",
	"country": "country", "language": "language", "avatar": "avatar_url", "avatar_url": "avatar_url",
}

// csvIgnored are header names an export writes that an import ignores.
var csvIgnored = map[string]bool{"id": true, "source": true, "created_at": true, "updated_at": true}

// csvHeader is the parsed header row of an import.
type csvHeader []csvColumn

// parseCSVHeader maps a header row to columns. Names are compared without
// case or surrounding spaces; a custom field keeps its header as written.
func parseCSVHeader(rec []string) (csvHeader, error) {
	if len(rec) > len(csvProfileFields)+len(csvIgnored)+engine.MaxCustomFields {
		return nil, fmt.Errorf("the header has %d columns, at most %d are allowed", len(rec), len(csvProfileFields)+len(csvIgnored)+engine.MaxCustomFields)
	}
	hd := make(csvHeader, len(rec))
	seen := map[string]bool{}
	identifying := false
	for i, name := range rec {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // a byte order mark
		}
		name = strings.TrimSpace(name)
		key := strings.ToLower(name)
		switch {
		case name == "":
			continue
		case !utf8.ValidString(name) || len(name) > engine.MaxCustomKeyBytes || strings.ContainsAny(name, "\x00\r\n"):
			return nil, fmt.Errorf("column %d: a column name is 1 to %d bytes of one-line text", i+1, engine.MaxCustomKeyBytes)
		case seen[csvKey(key)]:
			return nil, fmt.Errorf("column %d: %q appears twice", i+1, name)
		}
		seen[csvKey(key)] = true
		switch f, ok := csvProfileFields[key]; {
		case ok:
			hd[i].field = f
			identifying = identifying || f == "name" || f == "phone" || f == "email"
		case csvIgnored[key]:
		default:
			hd[i].custom = name
		}
	}
	if !identifying {
		return nil, errors.New("the header must have a name, phone or email column")
	}
	return hd, nil
}

// csvKey is the column identity used to find duplicates: avatar and
// avatar_url are one column.
func csvKey(key string) string {
	if f, ok := csvProfileFields[key]; ok {
		return f
	}
	return key
}

// unescapeCell undoes the export's guard against spreadsheet formulas: a
// cell starting with =, @, a tab or a carriage return is written with a
// leading apostrophe.
func unescapeCell(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.IndexByte("=@\t\r", s[1]) >= 0 {
		return s[1:]
	}
	return s
}

func escapeCell(s string) string {
	if s != "" && strings.IndexByte("=@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// contact turns a data row into a contact (profile and custom fields,
// source import), checked against the contact rules. An empty row gives
// ok false and no error.
func (hd csvHeader) contact(rec []string) (ct engine.Contact, ok bool, err error) {
	if len(rec) != len(hd) {
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			return ct, false, nil
		}
		return ct, false, fmt.Errorf("the row has %d fields, the header %d", len(rec), len(hd))
	}
	empty := true
	ct.Source = engine.SourceImport
	p := &ct.Profile
	fields := p.Fields()
	for i, col := range hd {
		v := strings.TrimSpace(unescapeCell(rec[i]))
		if v == "" {
			continue
		}
		empty = false
		for _, f := range fields {
			if f.Name == col.field {
				*f.Value = v
			}
		}
		if col.custom != "" {
			if ct.CustomFields == nil {
				ct.CustomFields = map[string]string{}
			}
			ct.CustomFields[col.custom] = v
		}
	}
	if empty {
		return ct, false, nil
	}
	if p.Name == "" && p.Phone == "" && p.Email == "" {
		return ct, false, errors.New("the row has no name, phone or email")
	}
	if err := engine.ValidateContact(&ct); err != nil {
		return ct, false, errors.New(strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": "))
	}
	return ct, true, nil
}

// csvRow is one data row read from an import: the line it starts on
// (the header is line 1) and its contact, or why it cannot be imported.
type csvRow struct {
	n   int
	ct  engine.Contact
	err error
}

// errBadHeader marks a header that cannot be used: the import is refused.
type errBadHeader struct{ error }

// readContactCSV reads an import from r: the header, then each data row,
// handed to emit in order (empty rows are skipped). It returns an
// errBadHeader for a bad or missing header, emit's error, or the error
// that stopped the reading (the body limit, a broken connection).
func readContactCSV(r io.Reader, emit func(csvRow) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return errBadHeader{errors.New("the CSV is empty")}
	}
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		return errBadHeader{fmt.Errorf("the header row: %v", perr.Err)}
	}
	if err != nil {
		return err
	}
	hd, err := parseCSVHeader(rec)
	if err != nil {
		return errBadHeader{err}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.As(err, &perr) {
			if err := emit(csvRow{n: perr.StartLine, err: perr.Err}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		for i := range rec {
			if !utf8.ValidString(rec[i]) {
				err = errors.New("the row is not valid UTF-8")
				break
			}
		}
		n, _ := cr.FieldPos(0)
		row := csvRow{n: n, err: err}
		if err == nil {
			var ok bool
			if row.ct, ok, row.err = hd.contact(rec); !ok && row.err == nil {
				continue
			}
		}
		if err := emit(row); err != nil {
			return err
		}
	}
}

// limitedReader reads at most n bytes and then fails with
// errImportBodyLimit, so an over-long import stops rather than being cut
// short in silence.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if k, _ := l.r.Read(one[:]); k > 0 {
			return 0, errImportBodyLimit
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// importJob is one running import.
type importJob struct {
	h        *contacts
	ctx      context.Context
	ws, id   engine.ID
	pending  map[string]*engine.Contact // new contacts of the open batch, by email and phone key
	fresh    []*engine.Contact          // the same, in order
	updates  []queuedUpdate             // rows matching stored contacts, by contact in order
	queued   map[engine.ID]int          // index in updates by contact
	rows     int
	imported int
	updated  int
	failed   int
	errors   []engine.ImportRowError
	inBatch  int
	stopErr  string
	progress func(done bool)
	defs     []engine.FieldDef // the workspace's custom field definitions
	// room is how many contacts the plan lets the import create (-1:
	// unlimited); rows past it fail with the plan_limit message.
	room     int64
	roomFull *planLimitError
}

func (j *importJob) fail(n int, msg string) {
	j.failed++
	if len(j.errors) < maxImportErrors {
		j.errors = append(j.errors, engine.ImportRowError{Row: n, Error: msg})
	}
}

// existing finds the stored contact a row describes, by email first,
// then phone (engine.ContactKeys).
func (j *importJob) existing(keys []string) (engine.ID, bool, error) {
	return j.h.store.ContactByKeys(j.ws, keys)
}

// rowMessage returns the message of a row's refusal by the CRM rules.
func rowMessage(err error) string {
	return strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": ")
}

// row handles one row of the import.
func (j *importJob) row(r csvRow) error {
	j.rows++
	if j.rows > maxImportRows {
		j.rows--
		return errImportRows
	}
	if r.err != nil {
		j.fail(r.n, r.err.Error())
		return nil
	}
	if err := j.checkFields(&r.ct, false); err != nil {
		j.fail(r.n, rowMessage(err))
		return nil
	}
	keys := engine.ContactKeys(&r.ct)
	if err := j.apply(&r, keys); err != nil {
		return err
	}
	j.inBatch++
	if j.inBatch >= importBatchRows {
		return j.flush(true)
	}
	return nil
}

func (j *importJob) apply(r *csvRow, keys []string) error {
	now := j.h.rt.Clock().Now()
	// A contact created earlier in this batch.
	for _, k := range keys {
		if c := j.pending[k]; c != nil {
			next, err := engine.ImportRow(*c, r.ct, now)
			if err != nil {
				j.fail(r.n, rowMessage(err))
				return nil
			}
			*c = next
			j.remember(c)
			j.updated++
			return nil
		}
	}
	id, ok, err := j.existing(keys)
	if err != nil {
		return err
	}
	if ok {
		j.update(r, id)
		return nil
	}
	if err := j.checkFields(&r.ct, true); err != nil {
		j.fail(r.n, rowMessage(err))
		return nil
	}
	if j.room >= 0 && int64(j.imported) >= j.room {
		j.h.s.ops.limitRefusals.WithLabelValues(string(engine.PlanContacts)).Inc()
		j.fail(r.n, "plan_limit: "+j.roomFull.Message)
		return nil
	}
	ct := r.ct
	ct.ID, ct.WorkspaceID, ct.CreatedAt, ct.UpdatedAt = engine.NewID(now), j.ws, now, now
	ct.NameEdited = ct.Profile.Name != ""
	j.fresh = append(j.fresh, &ct)
	j.remember(&ct)
	j.imported++
	return nil
}

// fieldColumn returns the key of the field a column named name fills: a
// definition's whose key or label it is, case aside, else name itself.
func fieldColumn(defs []engine.FieldDef, name string) string {
	for _, d := range defs {
		if strings.EqualFold(d.Key, name) || strings.EqualFold(d.Label, name) {
			return d.Key
		}
	}
	return name
}

// checkFields checks and normalises the custom field values of a row
// against the workspace's definitions (engine.ValidateFieldValues); a
// row that creates a contact (creating) must give every required field.
// A column named after a field's key or label fills that field.
func (j *importJob) checkFields(ct *engine.Contact, creating bool) error {
	if len(j.defs) == 0 {
		return nil
	}
	in := make(map[string]*string, len(ct.CustomFields))
	for k, v := range ct.CustomFields {
		in[fieldColumn(j.defs, k)] = &v
	}
	out, err := engine.ValidateFieldValues(j.defs, in, creating)
	if err != nil {
		return err
	}
	ct.CustomFields = engine.PatchCustomFields(nil, out)
	return nil
}

func (j *importJob) remember(c *engine.Contact) {
	for _, k := range engine.ContactKeys(c) {
		j.pending[k] = c
	}
}

// update queues a row for the stored contact id; flush applies it.
func (j *importJob) update(r *csvRow, id engine.ID) {
	i, ok := j.queued[id]
	if !ok {
		i = len(j.updates)
		j.queued[id] = i
		j.updates = append(j.updates, queuedUpdate{id: id})
	}
	j.updates[i].rows = append(j.updates[i].rows, *r)
}

// queuedUpdate are the rows of an import that update one stored contact.
type queuedUpdate struct {
	id   engine.ID
	rows []csvRow
}

// flush commits the contacts created since the last flush, in one
// batch, and the queued updates, each through its contact's actor (all
// at once, so that their commits share fsyncs), and, with report,
// publishes the progress.
func (j *importJob) flush(report bool) error {
	ctx := j.ctx
	if err := j.h.rt.ImportContacts(ctx, j.fresh); err != nil {
		return err
	}
	type outcome struct {
		errs []error
		err  error
	}
	out := make([]outcome, len(j.updates))
	var wg sync.WaitGroup
	for i := range j.updates {
		u := &j.updates[i]
		rows := make([]engine.Contact, len(u.rows))
		for k := range u.rows {
			rows[k] = u.rows[k].ct
		}
		wg.Go(func() { out[i].errs, out[i].err = j.h.rt.ImportUpdate(ctx, j.ws, u.id, rows) })
	}
	wg.Wait()
	for i, u := range j.updates {
		switch o := out[i]; {
		case errors.Is(o.err, actors.ErrContactNotFound):
			for _, r := range u.rows {
				j.fail(r.n, "the matching contact was deleted during the import")
			}
		case o.err != nil:
			return o.err
		default:
			for k, err := range o.errs {
				if err != nil {
					j.fail(u.rows[k].n, rowMessage(err))
				} else {
					j.updated++
				}
			}
		}
	}
	j.fresh, j.updates = j.fresh[:0], j.updates[:0]
	clear(j.pending)
	clear(j.queued)
	j.inBatch = 0
	if report {
		j.progress(false)
	}
	return nil
}

func (h *contacts) importCSV(c *fiber.Ctx) (err error) {
	defer func() {
		if err != nil {
			c.Context().SetConnectionClose() // the rest of the body may be unread
		}
	}()
	p := who(c)
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || (mt != "text/csv" && mt != "application/csv") {
		return errNotCSV
	}
	var body io.Reader
	if c.Request().IsBodyStream() {
		body = c.Request().BodyStream()
	} else {
		body = bytes.NewReader(c.Body())
	}
	now := h.rt.Clock().Now()
	defs, err := h.store.FieldDefs(p.WorkspaceID)
	if err != nil {
		return err
	}
	j := &importJob{h: h, ctx: c.UserContext(), ws: p.WorkspaceID, id: engine.NewID(now), pending: map[string]*engine.Contact{},
		queued: map[engine.ID]int{}, defs: defs, room: -1}
	if limit := h.s.ops.record(p.WorkspaceID).Limits.Contacts; limit > 0 {
		used, err := h.store.CountContacts(p.WorkspaceID, int(limit)+1)
		if err != nil {
			return err
		}
		j.room, j.roomFull = max(limit-int64(used), 0), newPlanLimitError(engine.PlanContacts, limit)
	}
	result := func(done bool) engine.ImportProgress {
		r := engine.ImportProgress{Job: j.id, Rows: j.rows, Imported: j.imported, Updated: j.updated, Failed: j.failed, Done: done}
		if done {
			errs := j.errors
			if errs == nil {
				errs = []engine.ImportRowError{}
			}
			r.Errors, r.Stopped = &errs, j.stopErr
		}
		return r
	}
	j.progress = func(done bool) {
		h.rt.Broadcaster().Publish([]engine.Event{{Type: engine.EventImportProgress, WorkspaceID: p.WorkspaceID,
			At: h.rt.Clock().Now(), Data: result(done)}})
	}
	err = readContactCSV(&limitedReader{r: body, n: maxImportBytes}, j.row)
	var bad errBadHeader
	switch {
	case errors.As(err, &bad):
		return errorf(fiber.StatusBadRequest, "bad_csv", "%s", bad.Error())
	case errors.Is(err, errImportBodyLimit):
		j.stopErr = errImportTooLarge.Message + "; the rows after the limit were not read"
	case errors.Is(err, errImportRows):
		j.stopErr = err.Error()
	case err != nil:
		return err
	}
	if err := j.flush(false); err != nil {
		return err
	}
	out := result(true)
	j.progress(true)
	return c.JSON(out)
}

// export writes every contact of the workspace as CSV, newest first: the
// profile columns, the source and times, and one column per custom field
// name in use. Cells that a spreadsheet would read as a formula are
// written with a leading apostrophe (an import takes it off).
func (h *contacts) export(c *fiber.Ctx) error {
	auditRead(c)
	ws := who(c).WorkspaceID
	// A first pass finds the custom field names, so the header is known
	// before the first row.
	var custom []string
	seen := map[string]bool{}
	cursor := ""
	for {
		page, err := h.store.Contacts(ws, cursor, exportPage)
		if err != nil {
			return err
		}
		for _, ct := range page.Contacts {
			for k := range ct.CustomFields {
				if !seen[k] {
					seen[k] = true
					custom = append(custom, k)
				}
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	slices.Sort(custom)
	header := append([]string{"id", "name", "phone", "email", "company", "title", "country", "language", "avatar_url",
		"source", "created_at", "updated_at"}, custom...)
	store, log := h.store, h.s.log
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="contacts.csv"`)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return
		}
		rec := make([]string, len(header))
		cursor := ""
		for {
			page, err := store.Contacts(ws, cursor, exportPage)
			if err != nil {
				log.Error("Exporting contacts", "err", err)
				return
			}
			for _, ct := range page.Contacts {
				p := ct.Profile
				copy(rec, []string{ct.ID.String(), p.Name, p.Phone, p.Email, p.Company, p.Title, p.Country, p.Language,
					p.AvatarURL, string(ct.Source), ct.CreatedAt.UTC().Format(time.RFC3339Nano), ct.UpdatedAt.UTC().Format(time.RFC3339Nano)})
				for i, k := range custom {
					rec[12+i] = ct.CustomFields[k]
				}
				for i := range rec {
					rec[i] = escapeCell(rec[i])
				}
				if err := cw.Write(rec); err != nil {
					return
				}
			}
			cw.Flush()
			if cw.Error() != nil || w.Flush() != nil {
				return // the client went away
			}
			if cursor = page.NextCursor; cursor == "" {
				return
			}
		}
	})
	return nil
}
