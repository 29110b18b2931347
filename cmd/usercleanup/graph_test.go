package main

import (
	"context"
	"testing"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra/entratest"
)

// TestGraphClients: the factory the jobs use reaches the configured Graph
// endpoints, shares one client per app registration and replaces it when
// the secret changes.
func TestGraphClients(t *testing.T) {
	ctx := context.Background()
	graph := entratest.NewServer(entratest.Options{})
	t.Cleanup(graph.Close)
	g := newGraphClients(graphConfig{APIURL: graph.URL, LoginURL: graph.URL}, graph.Client(), nil)

	secret := cleanup.Secret(graph.ClientSecret())
	a, err := g.IdP(ctx, graph.TenantID(), graph.ClientID(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.TestConnection(ctx); err != nil {
		t.Fatalf("test connection: %v", err)
	}
	group := graph.AddGroup("entra-jira-software", entratest.GroupFlags{})
	user := graph.AddUser("ada@contoso.example", "ada@contoso.example", false)
	graph.AddMember(group, user)
	res, err := a.RemoveMembers(ctx, group, []string{user})
	if err != nil || len(res) != 1 || res[0].Outcome != cleanup.RemovalRemoved {
		t.Fatalf("remove: %+v, %v", res, err)
	}

	b, err := g.IdP(ctx, graph.TenantID(), graph.ClientID(), secret)
	if err != nil || b != a {
		t.Errorf("second client = %p (%v), want the cached %p", b, err, a)
	}
	c, err := g.IdP(ctx, graph.TenantID(), graph.ClientID(), cleanup.Secret("a-wrong-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Error("a new secret reused the old client")
	}
	if err := c.TestConnection(ctx); err == nil {
		t.Error("a wrong secret passed the connection test")
	} else if cleanup.KindOf(err) == cleanup.KindOther {
		t.Errorf("wrong secret: untyped error %v", err)
	}
	if _, err := g.IdP(ctx, "", graph.ClientID(), secret); cleanup.KindOf(err) != cleanup.KindInvalid {
		t.Errorf("missing tenant: %v, want KindInvalid", err)
	}
}
