package gateway

import (
	"github.com/gofiber/fiber/v2"
	"github.com/parleyhq/parley/engine"
)

// Opt-out keywords (docs/ARCHITECTURE.md, "Opt-out keywords"): the
// words that, as a whole WhatsApp message, unsubscribe a contact from
// broadcasts or subscribe it again, and the confirmations sent back.
// Every role reads them; admins and owners change them. The runtime owns
// the record (actors/optout.go).
//
//	GET /api/v1/settings/opt-out   the settings in force, with the defaults
//	PUT /api/v1/settings/opt-out   {"keywords","confirmation","resubscribe_keywords","resubscribe_confirmation"}
//
// A field left out (or null) takes the default; an empty keyword list
// turns that rule off.

// optOutView is the opt-out settings in force, with the defaults.
type optOutView struct {
	engine.OptOutSettings
	Defaults engine.OptOutSettings `json:"defaults"`
}

func viewOptOut(s engine.OptOutSettings) optOutView {
	return optOutView{OptOutSettings: s.OptOutEffective(), Defaults: engine.OptOutSettings{}.OptOutEffective()}
}

func (s *Server) optOutRoutes(api fiber.Router) {
	api.Get("/settings/opt-out", s.getOptOut)
	api.Put("/settings/opt-out", requireRole(engine.RoleAdmin), s.putOptOut)
}

func (s *Server) getOptOut(c *fiber.Ctx) error {
	set, err := s.cfg.Runtime.OptOutSettings(who(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(viewOptOut(set))
}

// parseOptOutBody reads a PUT body into checked settings; any refusal
// is a 400 API error.
func parseOptOutBody(body []byte) (engine.OptOutSettings, error) {
	var b engine.OptOutSettings
	if err := decodeJSONBytes(body, &b); err != nil {
		return engine.OptOutSettings{}, err
	}
	set, err := engine.CleanOptOutSettings(b)
	if err != nil {
		return engine.OptOutSettings{}, fromEngine(err)
	}
	return set, nil
}

func (s *Server) putOptOut(c *fiber.Ctx) error {
	if err := validateBody(c, c.Body()); err != nil {
		return err
	}
	set, err := parseOptOutBody(c.Body())
	if err != nil {
		return err
	}
	saved, err := s.cfg.Runtime.SetOptOutSettings(c.UserContext(), who(c).WorkspaceID, set)
	if err != nil {
		return fromEngine(err)
	}
	return c.JSON(viewOptOut(saved))
}
