package scenario

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParse_requests(t *testing.T) {
	t.Parallel()
	s := parseOK(t, `
target: {command: [server]}
load:
  rates: [100]
  requests:
    - {method: POST, path: /orders, headers: {Content-Type: application/json, x-api-key: k1}, body: '{"id": 1}', weight: 3}
    - path: /items?page=2
`)
	want := []Request{
		{Method: "POST", Path: "/orders", Header: http.Header{"Content-Type": {"application/json"}, "x-api-key": {"k1"}}, Body: []byte(`{"id": 1}`), Weight: 3},
		{Method: "GET", Path: "/items?page=2", Weight: 1},
	}
	if !reflect.DeepEqual(s.Load.Requests, want) {
		t.Errorf("requests\n  %+v\nwant\n  %+v", s.Load.Requests, want)
	}
	if s.Load.Targets != "" {
		t.Errorf("Targets = %q without load.targets", s.Load.Targets)
	}
	if s := parseOK(t, "target: {command: [server]}\nload: {rates: [100]}\n"); s.Load.Requests != nil {
		t.Errorf("requests %+v without the key; want nil (GET target.path)", s.Load.Requests)
	}
}

func TestParse_requestErrors(t *testing.T) {
	t.Parallel()
	const head = "target: {command: [server]}\nload:\n  rates: [100]\n" // lines 1-3
	for _, tc := range []struct {
		name, in, pos, field, msg string
	}{
		{"not a list", head + "  requests: /a\n", "4:13", "load.requests", `expected a list of requests`},
		{"empty", head + "  requests: []\n", "4:13", "load.requests", "empty list"},
		{"no path", head + "  requests: [{method: GET}]\n", "4:14", "load.requests[0].path", "missing"},
		{"relative path", head + "  requests: [{path: a}]\n", "4:21", "load.requests[0].path", `"a" must start with /`},
		{"bad method", head + "  requests: [{path: /, method: 'GET /'}]\n", "4:32", "load.requests[0].method", "not an HTTP method"},
		{"unknown key", head + "  requests: [{path: /, header: {}}]\n", "4:24", "load.requests[0].header", `did you mean "headers"?`},
		{"weight zero", head + "  requests: [{path: /a}, {path: /b, weight: 0}]\n", "4:45", "load.requests[1].weight", "must be between 1 and 1000, got 0"},
		{"header name", head + "  requests: [{path: /, headers: {'a b': 1}}]\n", "4:34", `load.requests[0].headers."a b"`, "not a header name"},
		{"header value CRLF", head + "  requests: [{path: /, headers: {A: \"1\\r\\nB: 2\"}}]\n", "4:37", "load.requests[0].headers.A", "control characters"},
		{"header list", head + "  requests: [{path: /, headers: {A: [1]}}]\n", "4:37", "load.requests[0].headers.A", "expected a string, got a list"},
		{"body mapping", head + "  requests: [{path: /, body: {a: 1}}]\n", "4:30", "load.requests[0].body", "expected a string, got a mapping"},
		{"requests and targets", head + "  requests: [{path: /}]\n  targets: t.txt\n", "5:3", "load.targets", "cannot be combined with load.requests (line 4)"},
		{"targets missing", head + "  targets: no-such-targets.txt\n", "4:12", "load.targets", "cannot read no-such-targets.txt: no such file"},
		{"targets a folder", head + "  targets: /\n", "4:12", "load.targets", "/ is not a regular file"},
		{"with the session workload's clients", "target: {builtin: session}\nload:\n  rates: [100]\n  requests: [{path: /}]\n", "4:3", "load.requests", "cannot be combined with load.clients"},
	} {
		t.Run(tc.name, func(t *testing.T) { assertParseError(t, tc.in, tc.pos, tc.field, tc.msg) })
	}
}

// writeFiles writes name → content into a new folder and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// load.targets reads a vegeta targets file of either format, relative to the scenario, with its
// body files relative to itself.
func TestLoad_targets(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"s/http.yaml": "target: {command: [server]}\nload: {rates: [100], targets: t/targets.txt}\n",
		"s/json.yaml": "target: {command: [server]}\nload: {rates: [100], targets: t/targets.json}\n",
		"s/t/targets.txt": `# orders, with a body from a file
POST http://localhost:8080/orders
Content-Type: application/json
x-trace: a
@bodies/order.json

PUT http://example.com/items/7?v=2
@bodies/item.txt
GET http://localhost/health
`,
		"s/t/bodies/order.json": `{"item": 1}`,
		"s/t/bodies/item.txt":   "seven",
		"s/t/targets.json": `{"method": "POST", "url": "http://localhost:8080/orders", "header": {"Content-Type": ["application/json"]}, "body": "eyJpdGVtIjogMX0="}

{"method": "GET", "url": "http://localhost/health"}
`,
	})
	orders := Request{Method: "POST", Path: "/orders", Body: []byte(`{"item": 1}`), Weight: 1,
		Header: http.Header{"Content-Type": {"application/json"}, "x-trace": {"a"}}}
	health := Request{Method: "GET", Path: "/health", Weight: 1}
	for file, want := range map[string][]Request{
		"http.yaml": {orders, {Method: "PUT", Path: "/items/7?v=2", Body: []byte("seven"), Weight: 1}, health},
		"json.yaml": {{Method: "POST", Path: "/orders", Body: []byte(`{"item": 1}`), Weight: 1, Header: http.Header{"Content-Type": {"application/json"}}}, health},
	} {
		s, err := Load(filepath.Join(dir, "s", file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !reflect.DeepEqual(s.Load.Requests, want) {
			t.Errorf("%s: requests\n  %+v\nwant\n  %+v", file, s.Load.Requests, want)
		}
		if got, wantFile := s.Load.Targets, filepath.Join(dir, "s", "t", "targets."+map[string]string{"http.yaml": "txt", "json.yaml": "json"}[file]); got != wantFile {
			t.Errorf("%s: Targets = %q, want %q", file, got, wantFile)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", file, err)
		}
	}
}

// A problem in a targets file is one line naming the targets file and the line.
func TestLoad_targetsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, targets string
		line          int // 0: no line
		msg           string
	}{
		{"bad header", "GET http://localhost/a\nX-Ok: 1\n\nPOST http://localhost/b\nX-Ok: 1\nno colon\n", 6, "bad header: no colon"},
		{"bad method", "GET http://localhost/a\n\n\nget http://localhost/b\n", 4, "bad method: get"},
		{"bad header after a target", "GET http://localhost/a\nPOST\n", 2, "bad header: POST"},
		{"bad url", "# c\nGET ::nope\n", 2, "bad URL"},
		{"missing body file", "POST http://localhost/a\n@missing.json\n", 2, "bad body"},
		{"body file a folder", "POST http://localhost/a\n@.\n", 2, "bad body: "},
		{"header value control", "GET http://localhost/a\nX-A: a\x01b\n", 1, `headers.X-A: "a\x01b" contains control characters`},
		{"header value control, more targets", "GET http://localhost/a\n\nGET http://localhost/b\nX-B: 1\nX-A: a\x01b\n\nGET http://localhost/c\n", 3, "headers.X-A: "},
		{"json syntax", "{\"method\": \"GET\", \"url\": \"http://localhost/a\"}\n{\"method\": \"GET\", \"url\": \n", 2, "bad JSON target: "},
		{"json no method", "{\"url\": \"http://localhost/a\"}\n", 1, "method is missing"},
		{"json method not a token", "{\"method\": \"GE T\", \"url\": \"http://localhost/a\"}\n", 1, "not an HTTP method"},
		{"json header CRLF", "\n{\"method\": \"GET\", \"url\": \"http://localhost/a\", \"header\": {\"A\": [\"1\\r\\nB: 2\"]}}\n", 2, "control characters"},
		{"no path", "{\"method\": \"GET\", \"url\": \"mailto:a@b\"}\n", 1, "no path from /"},
		{"line too long", "GET http://localhost/a\nX-A: " + strings.Repeat("a", 70_000) + "\n", 2, "line longer than 65535 bytes"},
		{"empty", "# nothing\n\n", 0, "no targets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, map[string]string{
				"s.yaml":      "target: {command: [server]}\nload: {rates: [100], targets: targets.txt}\n",
				"targets.txt": tc.targets,
			})
			s, err := Load(filepath.Join(dir, "s.yaml"))
			if err == nil {
				t.Fatalf("Load succeeded: %+v", s.Load.Requests)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			prefix := filepath.Join(dir, "targets.txt") + ": "
			if tc.line > 0 {
				prefix = filepath.Join(dir, "targets.txt") + ":" + strconv.Itoa(tc.line) + ": "
			}
			got := err.Error()
			if !strings.HasPrefix(got, prefix) || !strings.Contains(got, tc.msg) || strings.ContainsAny(got, "\r\n") {
				t.Errorf("error\n  %q\nwant one line starting\n  %s\ncontaining\n  %s", got, prefix, tc.msg)
			}
		})
	}
}

func TestValidate_requests(t *testing.T) {
	t.Parallel()
	base := func() *Scenario {
		return parseOK(t, "target: {command: [server]}\nload: {rates: [100], requests: [{path: /a}, {path: /b}]}\n")
	}
	assertValidate(t, base(), "ok.yaml", "")
	for _, tc := range []struct {
		name string
		edit func(*Scenario)
		want string
	}{
		{"weight zero", func(s *Scenario) { s.Load.Requests[1].Weight = 0 }, "ok.yaml: load.requests[1].weight: must be between 1 and 1000"},
		{"no method", func(s *Scenario) { s.Load.Requests[0].Method = "" }, `ok.yaml: load.requests[0].method: "" is not an HTTP method`},
		{"path", func(s *Scenario) { s.Load.Requests[0].Path = "a" }, `ok.yaml: load.requests[0].path: "a" must start with /`},
		{"header", func(s *Scenario) { s.Load.Requests[0].Header = http.Header{"A": {"x\ny"}} }, "ok.yaml: load.requests[0].headers.A: "},
		{"empty", func(s *Scenario) { s.Load.Requests = []Request{} }, "ok.yaml: load.requests: empty"},
		{"with clients", func(s *Scenario) { s.Load.Clients = 5 }, "ok.yaml: load.requests: cannot be combined with load.clients"},
		{"targets not read", func(s *Scenario) { s.Load.Requests, s.Load.Targets = nil, "t.txt" }, "ok.yaml: load.targets: not read"},
		{"weights", func(s *Scenario) {
			s.Load.Requests = slices.Repeat([]Request{{Method: "GET", Path: "/", Weight: MaxWeight}}, MaxTotalWeight/MaxWeight+1)
		}, "ok.yaml: load.requests: the weights add up to 1049000; at most 1048576"},
		{"targets field", func(s *Scenario) { s.Load.Targets = "t.txt"; s.Load.Requests[1].Path = "" }, "ok.yaml: load.targets[1].path: empty"},
	} {
		s := base()
		tc.edit(s)
		t.Run(tc.name, func(t *testing.T) { assertValidate(t, s, "ok.yaml", tc.want) })
	}
}
