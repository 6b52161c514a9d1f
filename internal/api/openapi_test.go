package api

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

type openAPIDoc struct {
	raw        string
	OpenAPI    string                          `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		Schemas map[string]any `yaml:"schemas"`
	} `yaml:"components"`
}

type openAPIOperation struct {
	OperationID string                    `yaml:"operationId"`
	Security    *[]map[string][]string    `yaml:"security"`
	Responses   map[string]map[string]any `yaml:"responses"`
}

func readOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	require.NoError(t, err)
	var doc openAPIDoc
	require.NoError(t, yaml.Unmarshal(b, &doc))
	doc.raw = string(b)
	return doc
}

// TestOpenAPIMatchesRoutes fails when a route in the Go table is missing
// from api/openapi.yaml or the document lists one the server lacks, and
// when the document's auth disagrees with the route's.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := readOpenAPI(t)
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1"), "OpenAPI 3.1")

	s, err := New(Config{Token: testToken}, newSpy(t))
	require.NoError(t, err)
	inCode := map[string]route{}
	for _, rt := range s.routes(nil) {
		inCode[strings.ToLower(rt.Method)+" "+rt.OpenAPIPath()] = rt
	}
	inDoc := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, node := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			var op openAPIOperation
			require.NoError(t, node.Decode(&op), "%s %s", method, path)
			key := method + " " + path
			inDoc[key] = true
			rt, ok := inCode[key]
			if !assert.True(t, ok, "api/openapi.yaml has %s but the server has no such route", key) {
				continue
			}
			public := op.Security != nil && len(*op.Security) == 0
			assert.Equal(t, rt.Public, public, "%s: security in the document disagrees with the route (public=%v)", key, rt.Public)
			assert.NotEmpty(t, op.OperationID, "%s: operationId", key)
			assert.NotEmpty(t, op.Responses, "%s: responses", key)
		}
	}
	var missing []string
	for key := range inCode {
		if !inDoc[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "routes missing from api/openapi.yaml")
	for _, name := range []string{"Problem", "Payment", "PaymentRequest", "Event", "Status", "Terminal", "Refund", "PeriodReport", "Amount"} {
		assert.Contains(t, doc.Components.Schemas, name)
	}
}

// TestOpenAPIRefsResolve: every $ref in the document points at something.
func TestOpenAPIRefsResolve(t *testing.T) {
	var root map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(readOpenAPI(t).raw), &root))
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(root)
	require.NotEmpty(t, refs)
	for _, ref := range refs {
		path, ok := strings.CutPrefix(ref, "#/")
		require.True(t, ok, "only local refs: %s", ref)
		var node any = root
		for _, part := range strings.Split(path, "/") {
			m, ok := node.(map[string]any)
			require.True(t, ok, "%s: %s is not an object", ref, part)
			node, ok = m[part]
			require.True(t, ok, "%s does not resolve (at %s)", ref, part)
		}
	}
}
