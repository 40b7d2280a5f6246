package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// documentURL names the published OpenAPI document inside the schema
// compiler; the request body schemas are compiled from it by JSON pointer.
const documentURL = "parley:openapi.json"

// bodySchemas are the compiled JSON request body schemas of the published
// OpenAPI document (GET /api/v1/openapi.json), by "METHOD /template" of
// their operation. Every body decodeJSON reads is checked against its
// route's, so the API refuses exactly what the document says it refuses
// (docs/ARCHITECTURE.md, invariant 8).
var bodySchemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDocument()))
	if err != nil {
		return nil, fmt.Errorf("reading the OpenAPI document: %w", err)
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	if err := comp.AddResource(documentURL, doc); err != nil {
		return nil, fmt.Errorf("loading the OpenAPI document: %w", err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, o := range operations {
		if o.body == "" || o.bodyType != "" {
			continue
		}
		sch, err := comp.Compile(documentURL + "#/components/schemas/" + o.body)
		if err != nil {
			return nil, fmt.Errorf("compiling the %s schema: %w", o.body, err)
		}
		out[o.method+" "+o.path] = sch
	}
	return out, nil
})

var schemaPrinter = message.NewPrinter(language.English)

// validateBody checks a JSON request body against the schema the OpenAPI
// document gives the request's route; a route with none passes. A body
// that breaks the schema is a 400 naming the first field at fault.
func validateBody(c *fiber.Ctx, body []byte) error {
	schemas, err := bodySchemas()
	if err != nil {
		return err
	}
	return checkBody(schemas[c.Method()+" "+routeTemplate(c.Route().Path)], body)
}

// checkBody checks body against sch (nil: anything passes).
func checkBody(sch *jsonschema.Schema, body []byte) error {
	if sch == nil {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return errorf(fiber.StatusBadRequest, "bad_json", "invalid JSON body: %s", err.Error())
	}
	if err := sch.Validate(v); err != nil {
		return errorf(fiber.StatusBadRequest, "invalid", "the body does not match the API's schema: %s", schemaMessage(err))
	}
	return nil
}

// schemaMessage says where a body first breaks its schema and why.
func schemaMessage(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	at := "the body"
	if len(ve.InstanceLocation) > 0 {
		at = strings.Join(ve.InstanceLocation, ".")
	}
	return at + ": " + ve.ErrorKind.LocalizedString(schemaPrinter)
}
