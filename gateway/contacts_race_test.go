package gateway_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// A person's PATCH and a customer's new profile name change one contact
// at the same moment, 150 times: the contact's actor applies both, one
// after the other, so no edit is lost, and the contact search index
// follows every change (the old value no longer finds the contact, the
// new one does). With two writers (the PATCH handler and the
// conversation's rename) some rounds lost the PATCH.
func TestContactEditsRaceChannelRenames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const wa = "15550170001"
	_, contact := e.waContact("wamid.race.0", wa, "pn000")
	path := "/api/v1/contacts/" + contact.String()
	find := func(q string) bool {
		t.Helper()
		for _, c := range e.contacts("q=" + q).Contacts {
			if c.ID == contact {
				return true
			}
		}
		return false
	}
	const rounds = 150
	lost, lostPatches, stale := 0, 0, 0
	for i := 1; i <= rounds; i++ {
		company, name := fmt.Sprintf("co%03d", i), fmt.Sprintf("pn%03d", i)
		var wg sync.WaitGroup
		start := make(chan struct{})
		var patchCode, hookCode int
		var patchBody, hookBody []byte
		wg.Go(func() {
			<-start
			patchCode, patchBody = e.api("PATCH", path, ownerToken, map[string]string{"company": company})
		})
		wg.Go(func() {
			<-start
			hookCode, hookBody = e.webhook(engine.ChannelWhatsApp, waText(fmt.Sprintf("wamid.race.%d", i), wa, name, "hi"))
		})
		close(start)
		wg.Wait()
		require.Equal(t, http.StatusOK, patchCode, string(patchBody))
		require.Equal(t, http.StatusOK, hookCode, string(hookBody))
		// The rename reaches the contact through its actor right after
		// the message is committed; give it a moment.
		var ct engine.Contact
		deadline := time.Now().Add(time.Second)
		for {
			var err error
			ct, err = e.store.Contact(e.ws, contact)
			require.NoError(t, err)
			if ct.Profile.Company == company && ct.Profile.Name == name || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if ct.Profile.Company != company || ct.Profile.Name != name {
			lost++
			if ct.Profile.Company != company {
				lostPatches++
			}
			t.Logf("round %d: company %q name %q, want %q %q", i, ct.Profile.Company, ct.Profile.Name, company, name)
			continue
		}
		prevCompany, prevName := fmt.Sprintf("co%03d", i-1), fmt.Sprintf("pn%03d", i-1)
		if !find(company) || !find(name) || find(prevCompany) || find(prevName) {
			stale++
			t.Logf("round %d: the search index does not match the contact", i)
		}
	}
	require.Zero(t, lost, "edits lost in %d rounds (%d of them the PATCH)", rounds, lostPatches)
	require.Zero(t, stale, "rounds with a stale contact search index")
}
