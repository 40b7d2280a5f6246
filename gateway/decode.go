package gateway

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
)

// decodeJSON decodes a request body into v strictly: a JSON object, valid
// UTF-8, no unknown fields, nothing after it, and valid against the
// schema the OpenAPI document gives the route (validateBody). Every
// failure is a 400 that says what is wrong.
func decodeJSON(c *fiber.Ctx, v any) error {
	if err := decodeJSONBytes(c.Body(), v); err != nil {
		return err
	}
	return validateBody(c, c.Body())
}

func decodeJSONBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(fiber.StatusBadRequest, "bad_json", "a JSON body is required")
	}
	if !utf8.Valid(body) {
		return errorf(fiber.StatusBadRequest, "bad_json", "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(fiber.StatusBadRequest, "bad_json", "invalid JSON body: %s", err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(fiber.StatusBadRequest, "bad_json", "unexpected data after the JSON body")
	}
	return nil
}
