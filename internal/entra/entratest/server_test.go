package entratest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/entra/entratest"
)

func token(t *testing.T, s *entratest.Server) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()},
		"client_secret": {s.ClientSecret()}, "scope": {"https://graph.microsoft.com/.default"}}
	resp, err := s.Client().PostForm(s.URL+"/"+s.TenantID()+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.AccessToken == "" {
		t.Fatalf("token: status %d, err %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

type answer struct {
	Status int
	Body   map[string]any
}

func call(t *testing.T, s *entratest.Server, tok, method, path string, body []byte, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{Status: resp.StatusCode}
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &a.Body); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, b, err)
		}
	}
	return a
}

func batchBody(n int, group, user string) []byte {
	var reqs []map[string]string
	for i := range n {
		reqs = append(reqs, map[string]string{"id": fmt.Sprint(i + 1), "method": "DELETE",
			"url": "/groups/" + group + "/members/" + user + "/$ref"})
	}
	b, _ := json.Marshal(map[string]any{"requests": reqs})
	return b
}

func TestFakeGraph(t *testing.T) {
	now := time.Now()
	s := entratest.NewServer(entratest.Options{WritesPerWindow: 1, Window: time.Minute, Now: func() time.Time { return now }})
	defer s.Close()
	g := s.AddGroup("g", entratest.GroupFlags{})
	u1 := s.AddUser("a@contoso.com", "a@contoso.com", false)
	u2 := s.AddUser("b@contoso.com", "b@contoso.com", false)
	s.AddMember(g, u1)
	s.AddMember(g, u2)
	tok := token(t, s)

	if a := call(t, s, "", "GET", "/v1.0/groups/"+g, nil, nil); a.Status != 401 {
		t.Errorf("without token: %d, want 401", a.Status)
	}
	if a := call(t, s, "forged.token.x", "GET", "/v1.0/groups/"+g, nil, nil); a.Status != 401 {
		t.Errorf("forged token: %d, want 401", a.Status)
	}
	if a := call(t, s, tok, "DELETE", "/v1.0/groups/"+g+"/members/"+u1, nil, nil); a.Status != 405 {
		t.Errorf("DELETE without /$ref: %d, want 405", a.Status)
	}
	if a := call(t, s, tok, "POST", "/v1.0/$batch", batchBody(21, g, u1), map[string]string{"Content-Type": "application/json"}); a.Status != 400 {
		t.Errorf("batch of 21: %d, want 400", a.Status)
	}
	if a := call(t, s, tok, "GET", "/v1.0/groups/"+g+"/members/graph.user?$top=1000", nil, nil); a.Status != 400 {
		t.Errorf("$top=1000: %d, want 400", a.Status)
	}
	page := call(t, s, tok, "GET", "/v1.0/groups/"+g+"/members/microsoft.graph.user?$top=1", nil, nil)
	next, _ := page.Body["@odata.nextLink"].(string)
	if page.Status != 200 || next == "" {
		t.Fatalf("first page: %d %v", page.Status, page.Body)
	}
	page2 := call(t, s, tok, "GET", strings.TrimPrefix(next, s.URL), nil, nil)
	if _, more := page2.Body["@odata.nextLink"]; page2.Status != 200 || more {
		t.Errorf("second page: %d %v", page2.Status, page2.Body)
	}

	// A gzip batch of two removals with a quota of one write per minute:
	// the first is removed, the second throttled with a Retry-After.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	var reqs []map[string]string
	for i, u := range []string{u1, u2} {
		reqs = append(reqs, map[string]string{"id": fmt.Sprint(i + 1), "method": "DELETE", "url": "/groups/" + g + "/members/" + u + "/$ref"})
	}
	_ = json.NewEncoder(zw).Encode(map[string]any{"requests": reqs})
	_ = zw.Close()
	a := call(t, s, tok, "POST", "/v1.0/$batch", zb.Bytes(), map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"})
	if a.Status != 200 {
		t.Fatalf("gzip batch: %d %v", a.Status, a.Body)
	}
	type item struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
	}
	var got struct{ Responses []item }
	b, _ := json.Marshal(a.Body)
	_ = json.Unmarshal(b, &got)
	if len(got.Responses) != 2 || got.Responses[0].Status != 204 || got.Responses[1].Status != 429 {
		t.Fatalf("batch responses = %+v, want 204 then 429", got.Responses)
	}
	if ra := got.Responses[1].Headers["Retry-After"]; ra != "60.000" {
		t.Errorf("Retry-After = %q, want 60.000", ra)
	}
	if diff := cmp.Diff([]string{u2}, s.Members(g)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}

	// After the window the write passes; a repeated removal is a 404 and is
	// counted as a repeated delete.
	now = now.Add(time.Minute)
	if a := call(t, s, tok, "DELETE", "/v1.0/groups/"+g+"/members/"+u2+"/$ref", nil, nil); a.Status != 204 {
		t.Errorf("DELETE after the window: %d", a.Status)
	}
	now = now.Add(time.Minute)
	if a := call(t, s, tok, "DELETE", "/v1.0/groups/"+g+"/members/"+u2+"/$ref", nil, nil); a.Status != 404 {
		t.Errorf("repeated DELETE: %d, want 404", a.Status)
	}
	st := s.Stats()
	if st.Writes != 2 || st.Throttled != 1 || st.RepeatedDeletes != 1 || len(s.Removals()) != 2 {
		t.Errorf("stats = %+v, removals %d", st, len(s.Removals()))
	}
}
