package store

import (
	"context"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

func TestMarkEntraTested(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			cs := s.Cleanups(nil)
			in := cleanup.DefaultSettings()
			in.IdentityProvider.Provider = cleanup.ProviderEntra
			e := &in.IdentityProvider.Entra
			e.TenantID, e.ClientID, e.SecretSet = "tenant-1", "client-1", true
			if _, err := cs.SaveSettings(ctx, "ck-a", in, cleanup.SecretChanges{EntraClientSecret: secretPtr("entra-secret")}, 0); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
			entraOf := func(t *testing.T) cleanup.EntraConnection {
				t.Helper()
				got, err := cs.Settings(ctx, "ck-a")
				if err != nil {
					t.Fatal(err)
				}
				return got.IdentityProvider.Entra
			}

			// A failure is recorded with its message.
			if _, err := cs.MarkEntraTested(ctx, "ck-a", "tenant-1", "client-1", at, "the client secret is wrong"); err != nil {
				t.Fatal(err)
			}
			if got := entraOf(t); got.VerifiedAt != nil || got.LastTestNote != "the client secret is wrong" {
				t.Errorf("after a failure: %+v", got)
			}
			// A success records the time and clears the message.
			v, err := cs.MarkEntraTested(ctx, "ck-a", "tenant-1", "client-1", at, "")
			if err != nil || v.IdentityProvider.Entra.VerifiedAt == nil || !v.IdentityProvider.Entra.VerifiedAt.Equal(at) {
				t.Fatalf("after a success: %+v, %v", v.IdentityProvider.Entra, err)
			}
			if got := entraOf(t); got.VerifiedAt == nil || !got.VerifiedAt.Equal(at) || got.LastTestNote != "" {
				t.Errorf("stored after a success: %+v", got)
			}
			// A test of a registration changed meanwhile records nothing.
			if _, err := cs.MarkEntraTested(ctx, "ck-a", "tenant-2", "client-1", at.Add(time.Hour), "wrong tenant"); err != nil {
				t.Fatal(err)
			}
			if got := entraOf(t); got.LastTestNote != "" || !got.VerifiedAt.Equal(at) {
				t.Errorf("a stale test changed the verdict: %+v", got)
			}
			// Another tenant is untouched.
			if _, err := cs.MarkEntraTested(ctx, "ck-b", "tenant-1", "client-1", at, ""); err != nil {
				t.Fatal(err)
			}
			if got, _ := cs.Settings(ctx, "ck-b"); got.IdentityProvider.Entra.VerifiedAt != nil {
				t.Errorf("tenant b: %+v", got.IdentityProvider.Entra)
			}
		})
	}
}
