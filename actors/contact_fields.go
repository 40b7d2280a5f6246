package actors

import (
	"fmt"
	"maps"

	"github.com/parleyhq/parley/engine"
)

// aiContactWriteLater tells the contact's actor the profile and custom
// field values an agent's answer in conversation conv asked to write
// (engine.ApplyAIContactWrite): the fields the workspace lets the AI
// write are validated and stored with a record of the write naming the
// customer's message seq; the others are refused and logged, changing
// nothing.
func (rt *Runtime) aiContactWriteLater(ws, contact, conv engine.ID, seq uint64, values map[string]string) {
	values = maps.Clone(values)
	rt.contactTell(ws, contact, "ai write", func(a *contactActor) (any, error) {
		if a.c == nil {
			return nil, nil
		}
		return nil, a.aiWrite(conv, seq, values)
	})
}

func (a *contactActor) aiWrite(conv engine.ID, seq uint64, values map[string]string) error {
	defs, err := a.rt.store.FieldDefs(a.ws)
	if err != nil {
		return fmt.Errorf("reading field definitions: %w", err)
	}
	now := a.rt.clock.Now()
	next, written, refused := engine.ApplyAIContactWrite(*a.c, defs, values, now)
	a.rt.metrics.aiContactFields.WithLabelValues("written").Add(float64(len(written)))
	a.rt.metrics.aiContactFields.WithLabelValues("refused").Add(float64(len(refused)))
	for _, r := range refused {
		a.rt.log.Warn("Agent contact write refused", "contact", a.id, "conversation", conv, "field", r.Field, "reason", r.Message)
	}
	if len(written) == 0 {
		return nil
	}
	w := engine.AIContactWrite{ID: engine.NewID(now), WorkspaceID: a.ws, ContactID: a.id, ConversationID: conv, Seq: seq,
		Fields: written, Refused: refused, At: now}
	engine.EnrichPhone(&next) // as put does: the AI may have set the phone
	b := a.rt.store.NewBatch()
	b.PutContact(a.c, &next)
	b.PutAIContactWrite(&w)
	return a.commit(b, &next, a.rt.contactEvent(engine.EventContactUpdated, &next))
}
