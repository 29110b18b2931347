package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
)

func TestInstallationStore(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	const inst = "ari:cloud:ecosystem::installation/1"
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			// old: uninstalled, same installation id, later install time.
			old := sampleTenant("jira:old", "old-secret-0123456789abcdef", t0.Add(time.Hour))
			cur := sampleTenant("jira:cur", "cur-secret-0123456789abcdef", t0)
			other := sampleTenant("jira:other", "other-secret-0123456789abcdef", t0)
			other.InstallationID, other.CloudID = "", "cloud-2"
			for _, tn := range []*connect.Tenant{old, cur, other} {
				if err := s.SaveTenant(ctx, tn); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.MarkUninstalled(ctx, old.ClientKey, t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}

			got, err := s.TenantByInstallationID(ctx, inst)
			if err != nil {
				t.Fatal(err)
			}
			if got.ClientKey != cur.ClientKey || got.SharedSecret.Reveal() != cur.SharedSecret.Reveal() {
				t.Errorf("by installation = %s, want the installed %s", got.ClientKey, cur.ClientKey)
			}
			for _, id := range []string{"", "ari:cloud:ecosystem::installation/none"} {
				if _, err := s.TenantByInstallationID(ctx, id); !errors.Is(err, connect.ErrUnknownTenant) {
					t.Errorf("TenantByInstallationID(%q) = %v, want ErrUnknownTenant", id, err)
				}
			}

			byCloud, err := s.TenantsByCloudID(ctx, "cloud-1")
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, tn := range byCloud {
				keys = append(keys, tn.ClientKey)
			}
			if diff := cmp.Diff([]string{"jira:cur", "jira:old"}, keys); diff != "" {
				t.Errorf("by cloud (-want +got):\n%s", diff)
			}
			if none, err := s.TenantsByCloudID(ctx, ""); err != nil || len(none) != 0 {
				t.Errorf("empty cloud id: %v, %v", none, err)
			}

			if err := s.SetInstallationID(ctx, other.ClientKey, "ari:cloud:ecosystem::installation/2"); err != nil {
				t.Fatal(err)
			}
			got, err = s.TenantByInstallationID(ctx, "ari:cloud:ecosystem::installation/2")
			if err != nil || got.ClientKey != other.ClientKey || got.CloudID != "cloud-2" {
				t.Fatalf("after SetInstallationID: %v, %+v", err, got)
			}
			if err := s.SetInstallationID(ctx, "jira:missing", "x"); !errors.Is(err, connect.ErrUnknownTenant) {
				t.Errorf("SetInstallationID unknown tenant: %v", err)
			}
			// A bound tenant is never re-bound: not by another
			// installation, not even by the same one again.
			for _, id := range []string{"ari:cloud:ecosystem::installation/3", "ari:cloud:ecosystem::installation/2"} {
				if err := s.SetInstallationID(ctx, other.ClientKey, id); !errors.Is(err, connect.ErrUnknownTenant) {
					t.Errorf("re-binding a bound tenant to %s: %v, want ErrUnknownTenant", id, err)
				}
			}
			if err := s.SetInstallationID(ctx, cur.ClientKey, "ari:cloud:ecosystem::installation/3"); !errors.Is(err, connect.ErrUnknownTenant) {
				t.Errorf("re-binding the tenant of a signed install: %v, want ErrUnknownTenant", err)
			}
			for ck, want := range map[string]string{other.ClientKey: "ari:cloud:ecosystem::installation/2", cur.ClientKey: inst} {
				if got, err := s.GetTenant(ctx, ck); err != nil || got.InstallationID != want {
					t.Errorf("%s bound to %q (%v), want %q", ck, got.InstallationID, err, want)
				}
			}
		})
	}
}
