package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
)

// documented are the routes outside /api/ that the OpenAPI document
// covers too: the probes, /metrics and the login. The rest (the dashboard's
// pages, /ocpp, /ocpi, /beckn, /static, /debug) speak other protocols or
// HTML.
var documented = []string{"GET /healthz", "GET /readyz", "GET /metrics", "POST /login", "POST /logout"}

type openapiDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Security   []map[string][]string                 `json:"security"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
	} `json:"components"`
}

type operation struct {
	RequestBody *struct {
		Content map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Ref     string `json:"$ref"`
		Content map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

// TestOpenAPICoversEveryRoute fails when a route registered under /api/
// (or a probe, /metrics, the login) is missing from the OpenAPI document
// the server serves, when the document describes a route that does not
// exist, or when an operation lacks its request or response schemas.
// Whoever adds a route documents it in internal/api/openapi.json.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	s := cbtest.Start(t)
	resp, err := http.Get(s.URL() + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	var doc openapiDoc
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("the OpenAPI document is not JSON: %v", err)
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if raw["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v; want 3.1.0", raw["openapi"])
	}
	if bs := doc.Components.SecuritySchemes["bearer"]; bs.Type != "http" || bs.Scheme != "bearer" {
		t.Errorf("securitySchemes.bearer = %+v; want the http bearer scheme of --api-token", bs)
	}
	if !slices.ContainsFunc(doc.Security, func(m map[string][]string) bool { _, ok := m["bearer"]; return ok }) {
		t.Errorf("the document's security requirement does not name bearer: %v", doc.Security)
	}
	checkRefs(t, raw, raw)

	registered := map[string]bool{}
	for _, pattern := range s.Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "", pattern
		}
		key := method + " " + path
		registered[key] = true
		if !strings.HasPrefix(path, "/api/") && !slices.Contains(documented, key) {
			continue
		}
		if method == "" {
			t.Errorf("route %q has no method; API routes name one (GET, POST, …)", pattern)
			continue
		}
		item, ok := doc.Paths[path]
		if !ok {
			t.Errorf("route %s %s is not in internal/api/openapi.json; document it (paths[%q].%s)", method, path, path, strings.ToLower(method))
			continue
		}
		if _, ok := item[strings.ToLower(method)]; !ok {
			t.Errorf("route %s %s: openapi.json has the path but not its %s operation", method, path, strings.ToLower(method))
		}
	}
	for path, item := range doc.Paths {
		for m, body := range item {
			if m == "parameters" || m == "summary" || m == "description" {
				continue
			}
			key := strings.ToUpper(m) + " " + path
			if !registered[key] {
				t.Errorf("openapi.json documents %s, which the server does not serve", key)
				continue
			}
			var op operation
			if err := json.Unmarshal(body, &op); err != nil {
				t.Errorf("%s: %v", key, err)
				continue
			}
			checkOperation(t, key, op)
		}
	}
}

// checkOperation wants every answer described and every JSON body
// (request or 2xx response) with a schema; POST and PUT take a body.
func checkOperation(t *testing.T, key string, op operation) {
	t.Helper()
	if len(op.Responses) == 0 {
		t.Errorf("%s has no responses", key)
	}
	method, _, _ := strings.Cut(key, " ")
	if (method == "PUT" || (method == "POST" && key != "POST /logout")) && op.RequestBody == nil {
		t.Errorf("%s has no requestBody", key)
	}
	if op.RequestBody != nil {
		for ct, c := range op.RequestBody.Content {
			if len(c.Schema) == 0 {
				t.Errorf("%s: request body %s has no schema", key, ct)
			}
		}
	}
	for code, r := range op.Responses {
		if r.Ref != "" {
			continue
		}
		for ct, c := range r.Content {
			if len(c.Schema) == 0 {
				t.Errorf("%s: response %s (%s) has no schema", key, code, ct)
			}
		}
		if strings.HasPrefix(code, "2") && code != "204" && len(r.Content) == 0 {
			t.Errorf("%s: response %s has no content schema", key, code)
		}
	}
}

// checkRefs fails on a $ref that points nowhere in the document.
func checkRefs(t *testing.T, root, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			var cur any = root
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				m, _ := cur.(map[string]any)
				cur = m[part]
			}
			if !strings.HasPrefix(ref, "#/") || cur == nil {
				t.Errorf("$ref %q points nowhere in openapi.json", ref)
			}
		}
		for _, x := range v {
			checkRefs(t, root, x)
		}
	case []any:
		for _, x := range v {
			checkRefs(t, root, x)
		}
	}
}
