package actors_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/engine"
)

// BenchmarkSubmitForm measures form submissions through the contact
// actors, each one synced batch (the contact, its indexes, the
// submission by form and by contact): new contacts, then updates of
// stored ones, from benchWriters writers.
func BenchmarkSubmitForm(b *testing.B) {
	for _, create := range []bool{true, false} {
		b.Run(fmt.Sprintf("create=%v", create), func(b *testing.B) {
			e := newBenchEnv(b, actors.Config{MaxInFlight: 1 << 20})
			form := engine.NewID(time.Now())
			n := max(b.N, 2000)
			ids := make([]engine.ID, n)
			for i := range ids {
				ids[i] = engine.NewID(time.Now())
			}
			submit := func(i int, create bool) error {
				email := fmt.Sprintf("person%d@example.com", i)
				now := time.Now()
				_, _, err := e.rt.SubmitForm(context.Background(), e.ws, ids[i], create, actors.FormApply{
					Patch: engine.ContactPatch{Email: &email},
					Sub: engine.FormSubmission{ID: engine.NewID(now), WorkspaceID: e.ws, FormID: form, FormName: "Bench",
						Values: map[string]string{"email": email}, CreatedAt: now},
				})
				return err
			}
			if !create {
				parallel(n, benchWriters, func(i int) {
					if err := submit(i, true); err != nil {
						b.Error(err)
					}
				})
			}
			b.ResetTimer()
			rate := parallel(n, benchWriters, func(i int) {
				if err := submit(i, create); err != nil {
					b.Error(err)
				}
			})
			b.StopTimer()
			b.ReportMetric(rate, "submissions/s")
		})
	}
}
