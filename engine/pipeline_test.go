package engine_test

import (
	"errors"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// pipelineFixture is the default pipeline with fixed ids.
func pipelineFixture() (engine.Pipeline, []engine.ID) {
	ids := make([]engine.ID, len(engine.DefaultStageNames))
	for i := range ids {
		ids[i] = engine.NewID(crmNow)
	}
	return engine.DefaultPipeline(engine.NewID(crmNow), engine.NewID(crmNow), ids, crmNow), ids
}

func TestApplyPipeline(t *testing.T) {
	t.Parallel()
	base, ids := pipelineFixture()
	newID := engine.NewID(crmNow)
	gen := func() engine.ID { return newID }
	name := func(s string) *string { return &s }
	stages := func(s ...engine.StageSpec) *[]engine.StageSpec { return &s }
	later := crmNow.Add(1)
	for _, tc := range []struct {
		name  string
		ch    engine.PipelineChange
		want  []string // stage names in order; nil: refused
		ids   []engine.ID
		pname string
	}{
		{"rename only", engine.PipelineChange{Name: name("  Deals \t pipe ")}, engine.DefaultStageNames, ids, "Deals pipe"},
		{"reorder, rename, add and remove in one", engine.PipelineChange{Stages: stages(
			engine.StageSpec{ID: ids[1], Name: "Qualified"}, engine.StageSpec{ID: ids[0], Name: "Lead"}, engine.StageSpec{Name: "Proposal"})},
			[]string{"Qualified", "Lead", "Proposal"}, []engine.ID{ids[1], ids[0], newID}, "Sales"},
		{"no stages", engine.PipelineChange{Stages: stages()}, nil, nil, ""},
		{"an empty name", engine.PipelineChange{Name: name(" ")}, nil, nil, ""},
		{"a control character", engine.PipelineChange{Name: name("a\x00b")}, nil, nil, ""},
		{"two stages named alike", engine.PipelineChange{Stages: stages(engine.StageSpec{Name: "Won"}, engine.StageSpec{Name: "wON"})}, nil, nil, ""},
		{"a stage listed twice", engine.PipelineChange{Stages: stages(engine.StageSpec{ID: ids[0], Name: "a"}, engine.StageSpec{ID: ids[0], Name: "b"})}, nil, nil, ""},
		{"a stage of another pipeline", engine.PipelineChange{Stages: stages(engine.StageSpec{ID: newID, Name: "a"})}, nil, nil, ""},
		{"a bad colour", engine.PipelineChange{Stages: stages(engine.StageSpec{Name: "a", Color: "blue"})}, nil, nil, ""},
		{"too many stages", engine.PipelineChange{Stages: func() *[]engine.StageSpec {
			s := make([]engine.StageSpec, engine.MaxStages+1)
			for i := range s {
				s[i] = engine.StageSpec{Name: string(rune('a' + i))}
			}
			return &s
		}()}, nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := engine.ApplyPipeline(base, tc.ch, gen, later)
			if tc.want == nil {
				require.True(t, errors.Is(err, engine.ErrInvalid), "%v", err)
				return
			}
			require.NoError(t, err)
			got := []string{}
			gotIDs := []engine.ID{}
			for _, s := range p.Stages {
				got, gotIDs = append(got, s.Name), append(gotIDs, s.ID)
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.ids, gotIDs)
			require.Equal(t, tc.pname, p.Name)
			require.Equal(t, later, p.UpdatedAt)
		})
	}
	next, err := engine.ApplyPipeline(base, engine.PipelineChange{Stages: stages(engine.StageSpec{ID: ids[2], Name: "Customer", Color: "#AbCdEf"})}, gen, later)
	require.NoError(t, err)
	require.Equal(t, "#abcdef", next.Stages[0].Color)
	require.Equal(t, []engine.ID{ids[0], ids[1], ids[3]}, engine.RemovedStages(&base, &next))
	require.Equal(t, ids, engine.RemovedStages(&base, nil), "a deleted pipeline removes every stage")
	require.Equal(t, engine.DefaultStageNames, func() []string {
		var n []string
		for _, s := range base.Stages {
			n = append(n, s.Name)
		}
		return n
	}(), "the change did not touch the pipeline it was given")
}

func TestSetContactStage(t *testing.T) {
	t.Parallel()
	sales, ids := pipelineFixture()
	other, otherIDs := pipelineFixture()
	ps := []engine.Pipeline{sales, other}
	by := engine.NewID(crmNow)
	c := engine.Contact{ID: engine.NewID(crmNow), WorkspaceID: sales.WorkspaceID}
	chID := engine.NewID(crmNow)
	for _, tc := range []struct {
		name    string
		from    *engine.ContactStage
		to      *engine.ContactStage
		want    *engine.ContactStage
		changed bool
		bad     bool
	}{
		{"into a stage: its pipeline is filled in", nil, &engine.ContactStage{StageID: ids[0]},
			&engine.ContactStage{PipelineID: sales.ID, StageID: ids[0]}, true, false},
		{"the pipeline given and right", nil, &engine.ContactStage{PipelineID: other.ID, StageID: otherIDs[1]},
			&engine.ContactStage{PipelineID: other.ID, StageID: otherIDs[1]}, true, false},
		{"the pipeline given and wrong", nil, &engine.ContactStage{PipelineID: other.ID, StageID: ids[1]}, nil, false, true},
		{"a stage of no pipeline", nil, &engine.ContactStage{StageID: by}, nil, false, true},
		{"the same stage again", &engine.ContactStage{PipelineID: sales.ID, StageID: ids[2]}, &engine.ContactStage{StageID: ids[2]},
			&engine.ContactStage{PipelineID: sales.ID, StageID: ids[2]}, false, false},
		{"out of any", &engine.ContactStage{PipelineID: sales.ID, StageID: ids[2]}, nil, nil, true, false},
		{"out of none", nil, nil, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := c
			in.Stage = tc.from
			next, ch, changed, err := engine.SetContactStage(in, tc.to, ps, &by, chID, crmNow.Add(1))
			if tc.bad {
				require.True(t, errors.Is(err, engine.ErrInvalid), "%v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.changed, changed)
			require.Equal(t, tc.want, next.Stage)
			if !changed {
				require.Equal(t, engine.ContactChange{}, ch)
				require.Equal(t, in.UpdatedAt, next.UpdatedAt)
				return
			}
			from, to := "", ""
			if tc.from != nil {
				from = tc.from.StageID.String()
			}
			if tc.want != nil {
				to = tc.want.StageID.String()
			}
			require.Equal(t, engine.ContactChange{ID: chID, WorkspaceID: c.WorkspaceID, ContactID: c.ID, Kind: engine.ChangeStage,
				From: from, To: to, By: &by, At: crmNow.Add(1)}, ch)
			require.Equal(t, crmNow.Add(1), next.UpdatedAt)
		})
	}
}

func TestSetContactOwner(t *testing.T) {
	t.Parallel()
	ws := engine.NewID(crmNow)
	ann, bob, stranger := engine.NewID(crmNow), engine.NewID(crmNow), engine.NewID(crmNow)
	users := []engine.User{{ID: ann, WorkspaceID: ws}, {ID: bob, WorkspaceID: ws}}
	c := engine.Contact{ID: engine.NewID(crmNow), WorkspaceID: ws}
	chID := engine.NewID(crmNow)
	for _, tc := range []struct {
		name     string
		from, to *engine.ID
		by       *engine.ID
		changed  bool
		bad      bool
	}{
		{"a first owner", nil, &ann, &bob, true, false},
		{"another owner", &ann, &bob, &ann, true, false},
		{"the same owner", &ann, &ann, &bob, false, false},
		{"no owner, by the system", &ann, nil, nil, true, false},
		{"nobody again", nil, nil, &ann, false, false},
		{"not a user of the workspace", nil, &stranger, &ann, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := c
			in.OwnerID = tc.from
			next, ch, changed, err := engine.SetContactOwner(in, tc.to, users, tc.by, chID, crmNow.Add(1))
			if tc.bad {
				require.True(t, errors.Is(err, engine.ErrInvalid), "%v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.changed, changed)
			require.Equal(t, tc.to, next.OwnerID)
			if !changed {
				require.Equal(t, engine.ContactChange{}, ch)
				return
			}
			require.Equal(t, engine.ChangeOwner, ch.Kind)
			require.Equal(t, tc.by, ch.By)
			if tc.from != nil {
				require.Equal(t, tc.from.String(), ch.From)
			}
			if tc.to != nil {
				require.Equal(t, tc.to.String(), ch.To)
				require.NotSame(t, tc.to, next.OwnerID, "the contact holds its own copy")
			} else {
				require.Empty(t, ch.To)
			}
		})
	}
}

func TestMergeContactStageAndOwner(t *testing.T) {
	t.Parallel()
	ann, bob := engine.NewID(crmNow), engine.NewID(crmNow)
	s1 := &engine.ContactStage{PipelineID: ann, StageID: bob}
	s2 := &engine.ContactStage{PipelineID: bob, StageID: ann}
	m := engine.MergeContact(engine.Contact{}, engine.Contact{Stage: s1, OwnerID: &ann}, crmNow)
	require.Equal(t, s1, m.Stage, "an empty target takes the source's")
	require.Equal(t, &ann, m.OwnerID)
	m = engine.MergeContact(engine.Contact{Stage: s2, OwnerID: &bob}, engine.Contact{Stage: s1, OwnerID: &ann}, crmNow)
	require.Equal(t, s2, m.Stage, "the target keeps its own")
	require.Equal(t, &bob, m.OwnerID)
}

func TestDescribeCRM(t *testing.T) {
	now := crmNow
	ws := engine.NewID(now)
	ids := []engine.ID{engine.NewID(now), engine.NewID(now), engine.NewID(now), engine.NewID(now)}
	p := engine.DefaultPipeline(engine.NewID(now), ws, ids, now)
	ana := engine.User{ID: engine.NewID(now), WorkspaceID: ws, Name: "Ana", Email: "ana@example.com"}
	bo := engine.User{ID: engine.NewID(now), WorkspaceID: ws, Email: "bo@example.com"}
	gone := engine.NewID(now)
	stage := func(id engine.ID) *engine.ContactStage { return &engine.ContactStage{PipelineID: p.ID, StageID: id} }
	ptr := func(id engine.ID) *engine.ID { return &id }
	for _, tc := range []struct {
		name string
		c    engine.Contact
		want engine.ContactCRM
	}{
		{"neither", engine.Contact{}, engine.ContactCRM{}},
		{"stage", engine.Contact{Stage: stage(ids[1])}, engine.ContactCRM{PipelineID: ptr(p.ID), Pipeline: "Sales", StageID: ptr(ids[1]), Stage: "Qualified"}},
		{"owner by name", engine.Contact{OwnerID: ptr(ana.ID)}, engine.ContactCRM{OwnerID: ptr(ana.ID), Owner: "Ana"}},
		{"owner by email", engine.Contact{OwnerID: ptr(bo.ID), Stage: stage(ids[3])},
			engine.ContactCRM{PipelineID: ptr(p.ID), Pipeline: "Sales", StageID: ptr(ids[3]), Stage: "Lost", OwnerID: ptr(bo.ID), Owner: "bo@example.com"}},
		{"a removed stage and owner", engine.Contact{OwnerID: ptr(gone), Stage: stage(gone)}, engine.ContactCRM{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := engine.DescribeCRM(&tc.c, []engine.Pipeline{p}, []engine.User{ana, bo})
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.want == engine.ContactCRM{}, got.Empty())
		})
	}
}
