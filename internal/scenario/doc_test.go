package scenario

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestDoc_everyKeyDocumented checks docs/scenario.md against the keys the decoder accepts: every
// accepted key has a row in its tables, and every row names a key the decoder accepts.
func TestDoc_everyKeyDocumented(t *testing.T) {
	data, err := os.ReadFile("../../docs/scenario.md")
	if err != nil {
		t.Fatal(err)
	}
	// A key's row starts with the key in backquotes: | `load.search.p99` | duration | …
	rows := regexp.MustCompile("(?m)^\\| `([a-z0-9_.\\[\\]]+)` \\|").FindAllSubmatch(data, -1)
	documented := map[string]bool{}
	for _, r := range rows {
		key := string(r[1])
		if documented[key] {
			t.Errorf("docs/scenario.md documents %s twice", key)
		}
		documented[key] = true
	}

	var accepted []string
	for _, sec := range []struct {
		prefix string
		keys   []string
	}{
		{"", keysOf[Scenario]()},
		{"target.", keysOf[Target]()},
		{"balancer.", keysOf[Balancer]()},
		{"load.", keysOf[LoadSpec]()},
		{"load.search.", keysOf[Search]()},
		{"redis.", keysOf[Redis]()},
		{"restart.", keysOf[Restart]()},
		{"faults[].", keysOf[Fault]()},
		{"slo.", keysOf[SLO]()},
		{"scale.", keysOf[Scale]()},
		{"scale.compose.", keysOf[Compose]()},
		{"scale.command.", keysOf[ScaleCommand]()},
	} {
		for _, k := range sec.keys {
			accepted = append(accepted, sec.prefix+k)
		}
	}
	if len(accepted) < 40 {
		t.Fatalf("only %d keys accepted: the key lists moved?", len(accepted))
	}
	for _, k := range accepted {
		if !documented[k] {
			t.Errorf("key %s is accepted by the scenario parser but not documented in docs/scenario.md", k)
		}
	}
	for k := range documented {
		if !slices.Contains(accepted, k) {
			t.Errorf("docs/scenario.md documents %s, which the scenario parser does not accept", k)
		}
	}
}

// TestDoc_exampleParses keeps the example at the end of docs/scenario.md valid.
func TestDoc_exampleParses(t *testing.T) {
	data, err := os.ReadFile("../../docs/scenario.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Example\n\n```yaml\n(.*?)```").FindSubmatch(data)
	if m == nil {
		t.Fatal("docs/scenario.md has no ## Example with a yaml block")
	}
	if _, err := Parse("docs/scenario.md", m[1]); err != nil {
		t.Errorf("the example does not parse: %v", err)
	}
}
