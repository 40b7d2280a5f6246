package gateway

import (
	"context"
	"sort"
	"testing"

	json "github.com/goccy/go-json"
	"github.com/parleyhq/parley/actors"
	"github.com/parleyhq/parley/gateway/channels/meta"
	"github.com/parleyhq/parley/gateway/media"
	"github.com/parleyhq/parley/persistence"
	"github.com/stretchr/testify/require"
)

// Every route the router serves is documented, and every documented route
// is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	store, err := persistence.Open(persistence.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	defer store.Close()
	rt, err := actors.New(actors.Config{Store: store})
	require.NoError(t, err)
	accounts, err := NewAccounts(store)
	require.NoError(t, err)
	media, err := media.NewStore(t.TempDir(), 1<<20)
	require.NoError(t, err)
	s, err := New(Config{Runtime: rt, Store: store, Accounts: accounts, Graph: meta.NewClient(meta.ClientConfig{}), Media: media})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Shutdown(context.Background())) }()
	served := documentedRoutes(s.app)
	var documented []string
	for _, o := range operations {
		documented = append(documented, o.method+" "+o.path)
	}
	sort.Strings(documented)
	require.Equal(t, documented, served)
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openAPIDocument(), &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	n := 0
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			n++
			id, _ := op["operationId"].(string)
			require.NotEmpty(t, id, "%s %s", method, path)
			require.False(t, ids[id], "duplicate operationId %s", id)
			ids[id] = true
			for _, m := range pathParamRe.FindAllStringSubmatch(path, -1) {
				found := false
				for _, p := range op["parameters"].([]any) {
					if p.(map[string]any)["name"] == m[1] {
						found = true
					}
				}
				require.True(t, found, "%s %s does not declare {%s}", method, path, m[1])
			}
			if ref, ok := op["requestBody"]; ok {
				content := ref.(map[string]any)["content"].(map[string]any)
				require.Len(t, content, 1, "%s %s: one media type", method, path)
				for _, mt := range content {
					schema := mt.(map[string]any)["schema"].(map[string]any)["$ref"].(string)
					require.Contains(t, schemas, schema[len("#/components/schemas/"):])
				}
			}
		}
	}
	require.Equal(t, len(operations), n)
}
