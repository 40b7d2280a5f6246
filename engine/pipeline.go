package engine

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Pipelines and stages: a workspace's sales or support pipelines, each an
// ordered list of stages a contact moves through, and the rules that
// change them and a contact's stage and owner. The definitions have one
// owner (actors/pipelines.go); a contact's stage and owner are changed
// only by its actor (docs/ARCHITECTURE.md, invariant 11).

// Pipeline limits.
const (
	MaxPipelineNameBytes = 100
	MaxStageNameBytes    = 100
	// MaxPipelines is how many pipelines a workspace keeps.
	MaxPipelines = 20
	// MaxStages is how many stages a pipeline has at most.
	MaxStages = 30
)

// Pipeline is an ordered list of stages; the order of Stages is the
// order of the board's columns.
type Pipeline struct {
	ID          ID        `json:"id"`
	WorkspaceID ID        `json:"workspace_id"`
	Name        string    `json:"name"`
	Stages      []Stage   `json:"stages"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Stage is one step of a pipeline. Color is empty or "#rrggbb".
type Stage struct {
	ID    ID     `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color,omitempty"`
}

// ContactStage is where a contact stands: a stage of a pipeline.
type ContactStage struct {
	PipelineID ID `json:"pipeline_id"`
	StageID    ID `json:"stage_id"`
}

// DefaultStageNames are the stages of the pipeline a workspace starts
// with.
var DefaultStageNames = []string{"New lead", "Qualified", "Customer", "Lost"}

var defaultStageColors = []string{"#2563eb", "#d97706", "#16a34a", "#6b7280"}

// DefaultPipelineName names the pipeline a workspace starts with.
const DefaultPipelineName = "Sales"

// DefaultPipeline builds the pipeline a workspace starts with: id for it
// and ids for its stages (one per DefaultStageNames) are given.
func DefaultPipeline(id, ws ID, stageIDs []ID, now time.Time) Pipeline {
	p := Pipeline{ID: id, WorkspaceID: ws, Name: DefaultPipelineName, CreatedAt: now, UpdatedAt: now}
	for i, n := range DefaultStageNames {
		p.Stages = append(p.Stages, Stage{ID: stageIDs[i], Name: n, Color: defaultStageColors[i]})
	}
	return p
}

// StageSpec is a stage as a person describes it in a change: ID zero for
// a new stage.
type StageSpec struct {
	ID    ID
	Name  string
	Color string
}

// PipelineChange is a change to a pipeline: a nil Name is unchanged; a
// non-nil Stages is the whole new ordered list of stages (add, rename,
// reorder and remove in one).
type PipelineChange struct {
	Name   *string
	Stages *[]StageSpec
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// normalizeLabel tidies a one-line name: valid UTF-8 with no control
// characters, runs of white space made one space, 1 to max bytes.
func normalizeLabel(what, s string, max int) (string, error) {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
	}) >= 0 {
		return "", fmt.Errorf("%w: %s must be text without control characters", ErrInvalid, what)
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || len(s) > max {
		return "", fmt.Errorf("%w: %s must be 1 to %d bytes", ErrInvalid, what, max)
	}
	return s, nil
}

// ApplyPipeline applies change ch to pipeline p at now: newID gives the
// ids of new stages. Stages missing from a new list are removed; the
// caller checks that no contact stands in them (RemovedStages). Stage
// names are unique within a pipeline, case aside.
func ApplyPipeline(p Pipeline, ch PipelineChange, newID func() ID, now time.Time) (Pipeline, error) {
	if ch.Name != nil {
		n, err := normalizeLabel("name", *ch.Name, MaxPipelineNameBytes)
		if err != nil {
			return Pipeline{}, err
		}
		p.Name = n
	}
	if ch.Stages != nil {
		specs := *ch.Stages
		if len(specs) == 0 || len(specs) > MaxStages {
			return Pipeline{}, fmt.Errorf("%w: a pipeline has 1 to %d stages", ErrInvalid, MaxStages)
		}
		stages := make([]Stage, 0, len(specs))
		for _, s := range specs {
			n, err := normalizeLabel("stage name", s.Name, MaxStageNameBytes)
			if err != nil {
				return Pipeline{}, err
			}
			if s.Color != "" && !colorRE.MatchString(s.Color) {
				return Pipeline{}, fmt.Errorf("%w: a stage's color must be #rrggbb", ErrInvalid)
			}
			if slices.ContainsFunc(stages, func(o Stage) bool { return strings.EqualFold(o.Name, n) }) {
				return Pipeline{}, fmt.Errorf("%w: two stages are named %q", ErrInvalid, n)
			}
			id := s.ID
			if id == ZeroID {
				id = newID()
			} else if p.Stage(id) == nil {
				return Pipeline{}, fmt.Errorf("%w: no stage %s in this pipeline", ErrInvalid, id)
			} else if slices.ContainsFunc(stages, func(o Stage) bool { return o.ID == id }) {
				return Pipeline{}, fmt.Errorf("%w: stage %s is listed twice", ErrInvalid, id)
			}
			stages = append(stages, Stage{ID: id, Name: n, Color: strings.ToLower(s.Color)})
		}
		p.Stages = stages
	}
	if p.Name == "" {
		return Pipeline{}, fmt.Errorf("%w: name is required", ErrInvalid)
	}
	if len(p.Stages) == 0 {
		return Pipeline{}, fmt.Errorf("%w: a pipeline has 1 to %d stages", ErrInvalid, MaxStages)
	}
	p.UpdatedAt = now
	return p, nil
}

// RemovedStages returns the stages of old that next no longer has.
func RemovedStages(old, next *Pipeline) []ID {
	var out []ID
	for _, s := range old.Stages {
		if next == nil || next.Stage(s.ID) == nil {
			out = append(out, s.ID)
		}
	}
	return out
}

// Stage returns the stage id of p, nil when p has none.
func (p *Pipeline) Stage(id ID) *Stage {
	for i := range p.Stages {
		if p.Stages[i].ID == id {
			return &p.Stages[i]
		}
	}
	return nil
}

// FindStage returns the pipeline holding stage id among ps, and the
// stage; ok is false when none does.
func FindStage(ps []Pipeline, id ID) (p *Pipeline, s *Stage, ok bool) {
	for i := range ps {
		if s := ps[i].Stage(id); s != nil {
			return &ps[i], s, true
		}
	}
	return nil, nil, false
}

// ContactChangeKind names what a contact change recorded in its activity
// changed.
type ContactChangeKind string

// Contact change kinds.
const (
	ChangeStage ContactChangeKind = "stage_changed"
	ChangeOwner ContactChangeKind = "owner_changed"
)

// ContactChange is an entry of a contact's activity: its stage or its
// owner went from From to To (ids; empty for none), by a user (nil: the
// system, e.g. the owner's removal).
type ContactChange struct {
	ID          ID                `json:"id"`
	WorkspaceID ID                `json:"workspace_id"`
	ContactID   ID                `json:"contact_id"`
	Kind        ContactChangeKind `json:"kind"`
	From        string            `json:"from,omitempty"`
	To          string            `json:"to,omitempty"`
	By          *ID               `json:"by,omitempty"`
	At          time.Time         `json:"at"`
}

// SetContactStage moves contact c to stage to (nil: out of any pipeline)
// at now; pipelines are the workspace's, which must hold the stage. It
// returns the contact and the activity entry (id is its id), and changed
// false when c already stands there.
func SetContactStage(c Contact, to *ContactStage, pipelines []Pipeline, by *ID, id ID, now time.Time) (Contact, ContactChange, bool, error) {
	if to != nil {
		p, _, ok := FindStage(pipelines, to.StageID)
		if !ok || to.PipelineID != ZeroID && p.ID != to.PipelineID {
			return Contact{}, ContactChange{}, false, fmt.Errorf("%w: no stage %s in the workspace's pipelines", ErrInvalid, to.StageID)
		}
		to = &ContactStage{PipelineID: p.ID, StageID: to.StageID}
	}
	if stageKey(c.Stage) == stageKey(to) {
		return c, ContactChange{}, false, nil
	}
	ch := ContactChange{ID: id, WorkspaceID: c.WorkspaceID, ContactID: c.ID, Kind: ChangeStage,
		From: stageKey(c.Stage), To: stageKey(to), By: by, At: now}
	c.Stage = to
	c.UpdatedAt = now
	return c, ch, true, nil
}

// stageKey is the stage id of s as text, "" for none.
func stageKey(s *ContactStage) string {
	if s == nil {
		return ""
	}
	return s.StageID.String()
}

// SetContactOwner gives contact c owner to (nil: nobody) at now; users
// are the workspace's, which must include the owner. It returns the
// contact and the activity entry, and changed false when nothing changed.
func SetContactOwner(c Contact, to *ID, users []User, by *ID, id ID, now time.Time) (Contact, ContactChange, bool, error) {
	if to != nil && !slices.ContainsFunc(users, func(u User) bool { return u.ID == *to }) {
		return Contact{}, ContactChange{}, false, fmt.Errorf("%w: owner_id %s is not a user of the workspace", ErrInvalid, *to)
	}
	if idKey(c.OwnerID) == idKey(to) {
		return c, ContactChange{}, false, nil
	}
	ch := ContactChange{ID: id, WorkspaceID: c.WorkspaceID, ContactID: c.ID, Kind: ChangeOwner,
		From: idKey(c.OwnerID), To: idKey(to), By: by, At: now}
	if to != nil {
		o := *to
		c.OwnerID = &o
	} else {
		c.OwnerID = nil
	}
	c.UpdatedAt = now
	return c, ch, true, nil
}

func idKey(id *ID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// ContactCRM is where a contact stands, by name, as the AI agent is
// told: its pipeline and stage, and its owner. Empty fields are unknown
// or none.
type ContactCRM struct {
	PipelineID *ID    `json:"pipeline_id,omitempty"`
	Pipeline   string `json:"pipeline,omitempty"`
	StageID    *ID    `json:"stage_id,omitempty"`
	Stage      string `json:"stage,omitempty"`
	OwnerID    *ID    `json:"owner_id,omitempty"`
	Owner      string `json:"owner,omitempty"`
}

// Empty reports whether the contact has neither stage nor owner.
func (c ContactCRM) Empty() bool { return c.StageID == nil && c.OwnerID == nil }

// DescribeCRM names contact c's stage among pipelines and its owner among
// users (the owner's name, else email). A stage or owner no longer
// there is left out.
func DescribeCRM(c *Contact, pipelines []Pipeline, users []User) ContactCRM {
	var out ContactCRM
	if c.Stage != nil {
		if p, s, ok := FindStage(pipelines, c.Stage.StageID); ok {
			pid, sid := p.ID, s.ID
			out.PipelineID, out.Pipeline, out.StageID, out.Stage = &pid, p.Name, &sid, s.Name
		}
	}
	if c.OwnerID != nil {
		for _, u := range users {
			if u.ID == *c.OwnerID {
				id := u.ID
				out.OwnerID, out.Owner = &id, u.Name
				if out.Owner == "" {
					out.Owner = u.Email
				}
				break
			}
		}
	}
	return out
}
