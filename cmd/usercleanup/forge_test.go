package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
)

// manifestEnv is the environment the committed forge/*/manifest.yml files
// are generated with.
var manifestEnv = map[string]string{"BASE_URL": "https://usercleanup.example.com"}

// TestCommittedForgeManifestsUpToDate fails when forge/jira/manifest.yml
// or forge/confluence/manifest.yml differs from what the descriptor
// template generates. Regenerate with
//
//	BASE_URL=https://usercleanup.example.com go run ./cmd/usercleanup forge-manifest
func TestCommittedForgeManifestsUpToDate(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"forge-manifest", "-dir", dir}, envFunc(manifestEnv), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		got, err := os.ReadFile(filepath.Join(dir, string(p), "manifest.yml"))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("..", "..", "forge", string(p), "manifest.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(committed), string(got)); diff != "" {
			t.Errorf("forge/%s/manifest.yml is stale; regenerate it (-committed +generated):\n%s", p, diff)
		}
	}
	if !strings.Contains(stderr.String(), "FORGE_APP_ID_JIRA unset") {
		t.Errorf("no placeholder note on stderr: %q", stderr.String())
	}
}

func TestForgeManifestCommand(t *testing.T) {
	const jiraID = "ari:cloud:ecosystem::app/0a0a0a0a-1111-2222-3333-444444444444"
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantUsage bool
		wantErr   string
		wantID    string
	}{
		{name: "app id from the environment", env: map[string]string{
			"BASE_URL": "https://cleanup.example.org", "FORGE_APP_ID_JIRA": "0A0A0A0A-1111-2222-3333-444444444444",
		}, wantID: jiraID},
		{name: "bad app id", env: map[string]string{"FORGE_APP_ID_CONFLUENCE": "app-1"}, wantErr: "FORGE_APP_ID_CONFLUENCE"},
		{name: "bad base URL", env: map[string]string{"BASE_URL": "not a url"}, wantErr: "BASE_URL"},
		{name: "bad app key", env: map[string]string{"APP_KEY": "no spaces allowed"}, wantErr: "APP_KEY"},
		{name: "extra argument", args: []string{"jira"}, wantUsage: true},
		{name: "unknown flag", args: []string{"-x"}, wantUsage: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"forge-manifest", "-dir", dir}, tc.args...)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, envFunc(tc.env), &stdout, &stderr)
			var ue *usageError
			switch {
			case tc.wantUsage:
				if !errors.As(err, &ue) || exitCode(err) != 2 {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				if _, statErr := os.Stat(filepath.Join(dir, "jira")); statErr == nil {
					t.Error("files written despite a configuration error")
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "jira", "manifest.yml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`id: "` + tc.wantID + `"`, `baseUrl: "https://cleanup.example.org/jira"`} {
				if !strings.Contains(string(got), want) {
					t.Errorf("manifest lacks %s:\n%s", want, got)
				}
			}
		})
	}
}

func TestLoadForgeConfig(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		want     forgeConfig
		wantErrs []string
	}{
		// Staging tokens are refused unless a staging JWKS is set.
		// and only production installations are accepted.
		{"defaults", nil, forgeConfig{AppIDs: map[connect.Product]string{}, JWKSURL: connect.ForgeJWKSURL, Environments: []string{"PRODUCTION"}}, nil},
		{"staging set", map[string]string{"FORGE_STAGING_JWKS_URL": connect.ForgeStagingJWKSURL}, forgeConfig{AppIDs: map[connect.Product]string{}, JWKSURL: connect.ForgeJWKSURL, StagingJWKSURL: connect.ForgeStagingJWKSURL, Environments: []string{"PRODUCTION"}}, nil},
		{"environments", map[string]string{"FORGE_ENVIRONMENTS": "production, Development,development"}, forgeConfig{AppIDs: map[connect.Product]string{}, JWKSURL: connect.ForgeJWKSURL, Environments: []string{"PRODUCTION", "DEVELOPMENT"}}, nil},
		{"unknown environment", map[string]string{"FORGE_ENVIRONMENTS": "production,test"}, forgeConfig{}, []string{"FORGE_ENVIRONMENTS"}},
		{"key sets over http", map[string]string{"FORGE_JWKS_URL": "http://127.0.0.1:9999/jwks.json", "FORGE_STAGING_JWKS_URL": "http://127.0.0.1:9999/jwks.json"},
			forgeConfig{}, []string{"FORGE_JWKS_URL", "FORGE_STAGING_JWKS_URL"}},
		{"everything set", map[string]string{
			"FORGE_APP_ID_JIRA":       "ari:cloud:ecosystem::app/0a0a0a0a-1111-2222-3333-444444444444",
			"FORGE_APP_ID_CONFLUENCE": "0c0c0c0c-1111-2222-3333-444444444444",
			"FORGE_JWKS_URL":          "https://127.0.0.1:9999/.well-known/jwks.json",
			"FORGE_STAGING_JWKS_URL":  "off",
		}, forgeConfig{
			AppIDs: map[connect.Product]string{
				connect.Jira:       "ari:cloud:ecosystem::app/0a0a0a0a-1111-2222-3333-444444444444",
				connect.Confluence: "ari:cloud:ecosystem::app/0c0c0c0c-1111-2222-3333-444444444444",
			},
			JWKSURL:      "https://127.0.0.1:9999/.well-known/jwks.json",
			Environments: []string{"PRODUCTION"},
		}, nil},
		{"bad values", map[string]string{
			"FORGE_APP_ID_JIRA": "x", "FORGE_JWKS_URL": "jwks.json", "FORGE_STAGING_JWKS_URL": "ftp://x",
		}, forgeConfig{}, []string{"FORGE_APP_ID_JIRA", "FORGE_JWKS_URL", "FORGE_STAGING_JWKS_URL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := loadForgeConfig(envFunc(tc.env))
			var names []string
			for _, err := range errs {
				var ce *configError
				if !errors.As(err, &ce) {
					t.Fatalf("error %v is not a configError", err)
				}
				names = append(names, ce.Var)
			}
			if diff := cmp.Diff(tc.wantErrs, names); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
			if tc.wantErrs == nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("config (-want +got):\n%s", diff)
				}
			}
		})
	}
}
