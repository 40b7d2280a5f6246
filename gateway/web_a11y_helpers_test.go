package gateway_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The accessibility check of the browser tests: axe-core (test data in
// testdata/axe, never served) run on the page as it is.

// axeVersion is the axe-core of testdata/axe/axe.min.js.
const axeVersion = "4.14.1"

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		return "", fmt.Errorf("reading axe-core: %w", err)
	}
	if !strings.Contains(string(b[:min(len(b), 200)]), "axe v"+axeVersion) {
		return "", fmt.Errorf("testdata/axe/axe.min.js is not axe-core %s", axeVersion)
	}
	return string(b), nil
})

// axeViolation is one rule axe-core found broken, with the elements
// that break it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axeRun injects axe-core into the page of b (once per document) and
// returns every violation of its default rules (WCAG 2.x A and AA and
// its best practices). The script goes in through the DevTools
// protocol's Runtime.evaluate, which the page's Content-Security-Policy
// (script-src 'self') does not govern: TestWebA11yAxeUnderCSP shows the
// same script refused as an inline script.
func axeRun(b *tab) []axeViolation {
	b.t.Helper()
	src, err := axeSource()
	require.NoError(b.t, err)
	if !evalJS[bool](b, `typeof window.axe === 'object' && window.axe.version === `+jsString(axeVersion)) {
		b.do("inject axe-core", chromedp.Evaluate[chromedp.Void](src+"\n;undefined"))
	}
	out := evalJS[string](b, `axe.run(document, { resultTypes: ['violations'] }).then((r) => JSON.stringify(r.violations))`)
	var v []axeViolation
	require.NoError(b.t, json.Unmarshal([]byte(out), &v))
	return v
}

// axeCheck runs axe-core on the page of b as it is now and fails t on
// any serious or critical violation, listing for each its rule, impact,
// the selectors of the elements and the rule's help page; minor and
// moderate ones are logged. screen names the page in the messages
// ("inbox-chat-390"). One call per screen: open it, wait for it, check.
func axeCheck(t *testing.T, b *tab, screen string) {
	t.Helper()
	saved := b.t
	b.t = t
	defer func() { b.t = saved }()
	var bad []string
	for _, v := range axeRun(b) {
		var targets []string
		for _, n := range v.Nodes {
			sel, _ := json.Marshal(n.Target)
			why := strings.Join(strings.Fields(strings.TrimPrefix(strings.TrimSpace(n.Summary), "Fix any of the following:")), " ")
			targets = append(targets, string(sel)+" ("+why+")")
		}
		line := fmt.Sprintf("%s (%s): %s\n    %s\n    on %s", v.ID, v.Impact, v.Help, v.HelpURL, strings.Join(targets, "\n       "))
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, line)
		} else {
			t.Logf("axe, %s: %s", screen, line)
		}
	}
	if len(bad) > 0 {
		t.Errorf("axe-core %s found %d serious or critical violations on %s:\n  %s", axeVersion, len(bad), screen, strings.Join(bad, "\n  "))
	}
}
