package connect_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
)

const testManifestAppID = "ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000000"

// yline is one significant line of the YAML subset RenderForgeManifest
// writes: block mappings and sequences, JSON scalars.
type yline struct {
	indent int
	dash   bool
	text   string
}

// parseManifestYAML parses that subset into maps, slices and JSON
// scalars, so tests compare the manifest with the descriptor as data.
func parseManifestYAML(t *testing.T, data []byte) any {
	t.Helper()
	var lines []yline
	for _, raw := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimLeft(raw, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(raw) - len(trimmed)
		if strings.HasPrefix(trimmed, "- ") {
			lines = append(lines, yline{indent: indent, dash: true})
			lines = append(lines, yline{indent: indent + 2, text: trimmed[2:]})
			continue
		}
		lines = append(lines, yline{indent: indent, text: trimmed})
	}
	v, next := parseBlock(t, lines, 0, 0)
	if next != len(lines) {
		t.Fatalf("unparsed YAML from line %d: %+v", next, lines[next])
	}
	return v
}

func parseBlock(t *testing.T, lines []yline, i, indent int) (any, int) {
	t.Helper()
	if i < len(lines) && lines[i].dash {
		var list []any
		for i < len(lines) && lines[i].indent == indent && lines[i].dash {
			item := lines[i+1]
			if !strings.Contains(item.text, ": ") && !strings.HasSuffix(item.text, ":") {
				list = append(list, scalar(t, item.text))
				i += 2
				continue
			}
			var v any
			v, i = parseBlock(t, lines, i+1, indent+2)
			list = append(list, v)
		}
		return list, i
	}
	m := map[string]any{}
	for i < len(lines) && lines[i].indent == indent && !lines[i].dash {
		k, rest := splitKey(t, lines[i].text)
		if rest != "" {
			m[k] = scalar(t, rest)
			i++
			continue
		}
		if i+1 >= len(lines) || lines[i+1].indent <= indent && !lines[i+1].dash {
			t.Fatalf("key %q has no value", k)
		}
		m[k], i = parseBlock(t, lines, i+1, lines[i+1].indent)
	}
	return m, i
}

// splitKey splits "key: value" or "key:" (keys may contain ':' but not
// ": "; quoted keys are JSON strings).
func splitKey(t *testing.T, text string) (key, rest string) {
	t.Helper()
	if strings.HasPrefix(text, `"`) {
		dec := json.NewDecoder(strings.NewReader(text))
		if err := dec.Decode(&key); err != nil {
			t.Fatalf("key in %q: %v", text, err)
		}
		text = text[dec.InputOffset():]
		if !strings.HasPrefix(text, ":") {
			t.Fatalf("no ':' after quoted key %q", key)
		}
		return key, strings.TrimSpace(text[1:])
	}
	if k, r, ok := strings.Cut(text, ": "); ok {
		return k, strings.TrimSpace(r)
	}
	if strings.HasSuffix(text, ":") {
		return strings.TrimSuffix(text, ":"), ""
	}
	t.Fatalf("line %q is not a mapping entry", text)
	return "", ""
}

func scalar(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("scalar %q is not JSON: %v", s, err)
	}
	return v
}

func renderBoth(t *testing.T, p connect.Product) (descriptor map[string]any, manifest map[string]any, raw []byte) {
	t.Helper()
	d, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, connect.DescriptorParams{
		Product: p, BaseURL: "https://usercleanup.example.com", AppKey: "com.example.usercleanup",
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err = connect.RenderForgeManifest(d, connect.ForgeManifestParams{AppID: testManifestAppID})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(d, &descriptor); err != nil {
		t.Fatal(err)
	}
	m, ok := parseManifestYAML(t, raw).(map[string]any)
	if !ok {
		t.Fatal("manifest is not a mapping")
	}
	return descriptor, m, raw
}

// TestForgeManifestMatchesDescriptor fails when a module, a lifecycle
// event, a scope, the key or the baseUrl exists in one and not the other.
func TestForgeManifestMatchesDescriptor(t *testing.T) {
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			d, m, _ := renderBoth(t, p)
			// Modules: the same set of types, and per type the same
			// modules with the same contents.
			want := map[string]any{}
			for typ, v := range d["modules"].(map[string]any) {
				if _, isList := v.([]any); !isList {
					v = []any{v}
				}
				want[string(p)+":"+typ] = v
			}
			lc := map[string]any{"key": connect.ForgeLifecycleKey}
			for ev, u := range d["lifecycle"].(map[string]any) {
				lc[ev] = u
			}
			want[string(p)+":lifecycle"] = []any{lc}
			if diff := cmp.Diff(want, m["connectModules"]); diff != "" {
				t.Errorf("connectModules differ from the descriptor (-descriptor +manifest):\n%s", diff)
			}

			var wantScopes []any
			for _, s := range d["scopes"].([]any) {
				fs, err := connect.ForgeScope(p, s.(string))
				if err != nil {
					t.Fatal(err)
				}
				wantScopes = append(wantScopes, fs)
			}
			wantTop := map[string]any{
				"app": map[string]any{
					"id":          testManifestAppID,
					"description": d["description"],
					"runtime":     map[string]any{"name": connect.DefaultForgeRuntime},
					"connect":     map[string]any{"key": d["key"], "remote": "connect", "authentication": "jwt"},
				},
				"remotes": []any{map[string]any{
					"key": "connect", "baseUrl": d["baseUrl"],
					"operations": []any{"storage", "other"},
					"storage":    map[string]any{"inScopeEUD": true},
				}},
				"permissions": map[string]any{
					"scopes":   wantScopes,
					"external": map[string]any{"fetch": map[string]any{"backend": []any{map[string]any{"remote": "connect"}}}},
				},
			}
			delete(m, "connectModules")
			if diff := cmp.Diff(wantTop, m); diff != "" {
				t.Errorf("manifest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForgeManifestDeterministic(t *testing.T) {
	_, _, a := renderBoth(t, connect.Jira)
	_, _, b := renderBoth(t, connect.Jira)
	if string(a) != string(b) {
		t.Fatal("two renders differ")
	}
}

func TestRenderForgeManifestErrors(t *testing.T) {
	d, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, connect.DescriptorParams{
		Product: connect.Jira, BaseURL: "https://usercleanup.example.com", AppKey: "com.example.usercleanup",
	})
	if err != nil {
		t.Fatal(err)
	}
	withScope := strings.Replace(string(d), `"ADMIN"`, `"SPACE_ADMIN"`, 1)
	tests := []struct {
		name       string
		descriptor string
		appID      string
	}{
		{"no app id", string(d), ""},
		{"bad app id", string(d), "app-1"},
		{"invalid descriptor", `{"key":"x"}`, testManifestAppID},
		{"not JSON", `{`, testManifestAppID},
		{"Confluence scope in a Jira app", withScope, testManifestAppID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := connect.RenderForgeManifest([]byte(tc.descriptor), connect.ForgeManifestParams{AppID: tc.appID})
			if !errors.Is(err, connect.ErrInvalidDescriptor) || out != nil {
				t.Fatalf("got %q, %v; want ErrInvalidDescriptor", out, err)
			}
		})
	}
}

func TestForgeScope(t *testing.T) {
	tests := []struct {
		p       connect.Product
		in      string
		want    string
		wantErr bool
	}{
		{connect.Jira, "READ", "read:connect-jira", false},
		{connect.Jira, "write", "write:connect-jira", false},
		{connect.Confluence, "DELETE", "delete:connect-confluence", false},
		{connect.Confluence, "ADMIN", "admin:connect-confluence", false},
		{connect.Jira, "ACT_AS_USER", "act-as-user:connect-jira", false},
		{connect.Jira, "ACCESS_EMAIL_ADDRESSES", "access-email-addresses:connect-jira", false},
		{connect.Jira, "PROJECT_ADMIN", "project-admin:connect-jira", false},
		{connect.Confluence, "SPACE_ADMIN", "space-admin:connect-confluence", false},
		{connect.Confluence, "PROJECT_ADMIN", "", true},
		{connect.Jira, "SPACE_ADMIN", "", true},
		{connect.Jira, "EVERYTHING", "", true},
	}
	for _, tc := range tests {
		got, err := connect.ForgeScope(tc.p, tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ForgeScope(%s, %s) = %q, %v; want %q, err %v", tc.p, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
