package persistence

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/parleyhq/parley/engine"
)

// BenchmarkSearchContacts searches 50,000 contacts by a rare name, a
// common first name with a surname, and a phone tail: each reads the
// token entries of its terms and a page of records, never the contact
// table.
func BenchmarkSearchContacts(b *testing.B) {
	s := openStore(b)
	ws := idOf(1, 1)
	first := []string{"Maria", "José", "Ana", "João", "Lucía", "Pedro", "Carmen", "Luis", "Sofía", "Miguel"}
	last := []string{"Silva", "Santos", "García", "Pereira", "López", "Oliveira", "Martínez", "Costa", "Núñez", "Rocha"}
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // test data
	const n = 50_000
	for i := 0; i < n; i += 1000 {
		commit(b, s, func(batch *Batch) {
			for j := i; j < i+1000; j++ {
				name := first[rng.IntN(len(first))] + " " + last[rng.IntN(len(last))]
				if j == 31_337 {
					name = "Zebedeu Quixaba"
				}
				c := newContact(ws, j, engine.Profile{Name: name, Phone: fmt.Sprintf("+55 11 9%08d", j),
					Email: fmt.Sprintf("user%d@example.com", j)})
				batch.PutContact(nil, &c)
			}
		})
	}
	for _, q := range []string{"zebedeu", "maria silva", "90031337", "jo"} {
		b.Run(q, func(b *testing.B) {
			terms := engine.NormalizeQuery(q)
			for b.Loop() {
				if _, err := s.SearchContacts(ws, terms, "", 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
