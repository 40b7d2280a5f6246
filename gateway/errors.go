package gateway

import (
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/persistence"
)

// apiError is an error with an HTTP status and a stable machine code; the
// error handler writes it as {"error": {"code", "message"}}.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common API errors.
var (
	errUnauthorized = &apiError{fiber.StatusUnauthorized, "unauthorized", "a valid bearer token is required"}
	errForbidden    = &apiError{fiber.StatusForbidden, "forbidden", "your role does not allow this"}
	errNotFound     = &apiError{fiber.StatusNotFound, "not_found", "no such resource"}
)

// fromEngine maps an error from the runtime to its API error; unknown
// errors stay internal (500).
func fromEngine(err error) error {
	var ae *apiError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return ae
	case errors.As(err, new(engine.FieldErrors)):
		fe, _ := engine.AsFieldErrors(err)
		return &fieldsError{apiError{fiber.StatusBadRequest, "invalid_fields", "some custom field values are invalid: " + fieldList(fe)}, fe}
	case errors.Is(err, actors.ErrNotFound), errors.Is(err, persistence.ErrNotFound), errors.Is(err, engine.ErrNoSuchMessage):
		return errNotFound
	case errors.Is(err, actors.ErrOverloaded):
		return &apiError{fiber.StatusServiceUnavailable, "overloaded", "the server is overloaded, retry later"}
	case errors.Is(err, actors.ErrShuttingDown):
		return &apiError{fiber.StatusServiceUnavailable, "shutting_down", "the server is shutting down, retry later"}
	case errors.Is(err, engine.ErrOutsideWindow):
		return &apiError{fiber.StatusUnprocessableEntity, "outside_window", "more than 24 hours since the customer last wrote: a template message is required"}
	case errors.Is(err, engine.ErrBlocked):
		return &apiError{fiber.StatusConflict, "contact_blocked", "the contact is blocked"}
	case errors.Is(err, engine.ErrNotFailed):
		return &apiError{fiber.StatusConflict, "not_failed", "only a failed message can be retried"}
	case errors.Is(err, engine.ErrInvalid):
		return &apiError{fiber.StatusBadRequest, "invalid", err.Error()}
	}
	return err
}

// fieldsError is a 400 invalid_fields: the error body also lists what is
// wrong with each custom field value (engine.ValidateFieldValues).
type fieldsError struct {
	apiError
	Fields []engine.FieldError
}

// fieldList names the fields of fe, for a message.
func fieldList(fe engine.FieldErrors) string {
	out := ""
	for i, f := range fe {
		if i > 0 {
			out += ", "
		}
		out += f.Field
	}
	return out
}
