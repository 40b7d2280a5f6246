package gateway

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/gateway/internal/strictjson"
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
	err := strictjson.Decode(body, v)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, strictjson.ErrEmpty):
		return errorf(fiber.StatusBadRequest, "bad_json", "a JSON body is required")
	case errors.Is(err, strictjson.ErrNotUTF8):
		return errorf(fiber.StatusBadRequest, "bad_json", "the body is not valid UTF-8")
	case errors.Is(err, strictjson.ErrTrailing):
		return errorf(fiber.StatusBadRequest, "bad_json", "unexpected data after the JSON body")
	}
	return errorf(fiber.StatusBadRequest, "bad_json", "invalid JSON body: %s", err.Error())
}
