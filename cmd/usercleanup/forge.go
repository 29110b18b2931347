package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/server"
)

// placeholderForgeAppID is app.id of a manifest generated before
// `forge register` assigned the real id (forge register rewrites it).
const placeholderForgeAppID = "ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000000"

// forgeConfig is the Connect on Forge configuration: which Forge apps'
// invocation tokens the API accepts, and where their keys are.
type forgeConfig struct {
	// AppIDs are the Forge app ARIs per product (FORGE_APP_ID_JIRA,
	// FORGE_APP_ID_CONFLUENCE); a product without one accepts Connect
	// JWTs only.
	AppIDs map[connect.Product]string
	// JWKSURL is the production JWKS (FORGE_JWKS_URL).
	JWKSURL string
	// StagingJWKSURL is the JWKS for tokens of Atlassian's staging
	// platform (FORGE_STAGING_JWKS_URL); empty (the default, or "off"):
	// staging tokens are refused.
	StagingJWKSURL string
	// Environments are the Forge environment types whose invocation
	// tokens are accepted (FORGE_ENVIRONMENTS, default production only).
	Environments []string
}

// forgeEnvironments are the Forge environment types.
var forgeEnvironments = []string{"PRODUCTION", "STAGING", "DEVELOPMENT"}

func forgeAppIDVar(p connect.Product) string { return "FORGE_APP_ID_" + strings.ToUpper(string(p)) }

// loadForgeConfig reads the Forge settings; every problem is returned.
func loadForgeConfig(getenv func(string) string) (forgeConfig, []error) {
	var errs []error
	fc := forgeConfig{AppIDs: map[connect.Product]string{}}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		name := forgeAppIDVar(p)
		id, err := connect.ForgeAppARI(getenv(name))
		if err != nil {
			errs = append(errs, badVar(name, "must be the Forge app id printed by `forge register` (%s<uuid>)", connect.ForgeAppARIPrefix))
			continue
		}
		if id != "" {
			fc.AppIDs[p] = id
		}
	}
	fc.JWKSURL = envOr(getenv, "FORGE_JWKS_URL", connect.ForgeJWKSURL)
	if err := checkHTTPSURL(fc.JWKSURL); err != nil {
		errs = append(errs, badVar("FORGE_JWKS_URL", "%v", err))
	}
	// Staging tokens come from Atlassian's own test platform, never from a
	// customer's site: refused unless a staging JWKS is set explicitly.
	fc.StagingJWKSURL = envOr(getenv, "FORGE_STAGING_JWKS_URL", "off")
	if strings.EqualFold(fc.StagingJWKSURL, "off") {
		fc.StagingJWKSURL = ""
	} else if err := checkHTTPSURL(fc.StagingJWKSURL); err != nil {
		errs = append(errs, badVar("FORGE_STAGING_JWKS_URL", "%v (or off)", err))
	}
	fc.Environments = []string{connect.ForgeProduction}
	if raw := getenv("FORGE_ENVIRONMENTS"); strings.TrimSpace(raw) != "" {
		fc.Environments = nil
		for _, e := range splitList(raw) {
			e = strings.ToUpper(e)
			if !slices.Contains(forgeEnvironments, e) {
				errs = append(errs, badVar("FORGE_ENVIRONMENTS", "%q is not a Forge environment (production, staging, development)", e))
				continue
			}
			if !slices.Contains(fc.Environments, e) {
				fc.Environments = append(fc.Environments, e)
			}
		}
	}
	return fc, errs
}

// newForgeAuthenticator returns the FIT verifier for the apps with a
// Forge app id, or nil when none has one (Connect JWTs only).
func newForgeAuthenticator(fc forgeConfig, apps []connect.App, st connect.InstallationStore, client *http.Client, log *slog.Logger) server.ForgeAuthenticator {
	ids := map[string]string{}
	for _, a := range apps {
		if id := fc.AppIDs[a.Product]; id != "" {
			ids[a.Key] = id
		}
	}
	if len(ids) == 0 {
		return nil
	}
	v := &connect.FITVerifier{
		Keys:          connect.NewJWKSFetcher(fc.JWKSURL, client, nil),
		AppIDs:        ids,
		Installations: st,
		Environments:  fc.Environments,
		Leeway:        10 * time.Second,
	}
	if fc.StagingJWKSURL != "" {
		v.StagingKeys = connect.NewJWKSFetcher(fc.StagingJWKSURL, client, nil)
	}
	log.Info("accepting Forge Invocation Tokens on the API", "forge_apps", ids, "jwks", fc.JWKSURL,
		"staging_jwks", fc.StagingJWKSURL, "environments", fc.Environments)
	return v
}

// forgeManifestUsage documents the forge-manifest command.
const forgeManifestUsage = `usage: usercleanup forge-manifest [-dir DIR]

Writes DIR/jira/manifest.yml and DIR/confluence/manifest.yml (DIR defaults
to "forge"): the Connect on Forge manifests of the two apps, generated from
the same descriptor template, BASE_URL and APP_KEY the server uses.
FORGE_APP_ID_JIRA / FORGE_APP_ID_CONFLUENCE set app.id; without them a
placeholder is written, which "forge register" replaces.`

// forgeManifest implements the forge-manifest command.
func forgeManifest(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("forge-manifest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "forge", "output folder")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, err := fmt.Fprintln(stdout, forgeManifestUsage)
			return err
		}
		return &usageError{msg: err.Error() + "\n" + forgeManifestUsage}
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected arguments %q\n%s", fs.Args(), forgeManifestUsage)}
	}
	var errs []error
	base, err := parseBaseURL(envOr(getenv, "BASE_URL", defaultBaseURL))
	if err != nil {
		errs = append(errs, err)
	}
	appKey := envOr(getenv, "APP_KEY", defaultAppKey)
	if !appKeyPattern.MatchString(appKey) || len(appKey) > maxAppKeyLen {
		errs = append(errs, badVar("APP_KEY", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxAppKeyLen))
	}
	fc, ferrs := loadForgeConfig(getenv)
	errs = append(errs, ferrs...)
	if len(errs) > 0 {
		return configErrors(errs)
	}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		out, err := renderForgeManifest(p, base, appKey, fc.AppIDs[p])
		if err != nil {
			return err
		}
		if fc.AppIDs[p] == "" {
			fmt.Fprintf(stderr, "%s unset: %s manifest has a placeholder app.id (forge register replaces it)\n", forgeAppIDVar(p), p)
		}
		path := filepath.Join(*dir, string(p), "manifest.yml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("forge-manifest: %w", err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return fmt.Errorf("forge-manifest: %w", err)
		}
		fmt.Fprintln(stdout, "wrote "+path)
	}
	return nil
}

// renderForgeManifest renders the product's descriptor and the manifest
// generated from it.
func renderForgeManifest(p connect.Product, baseURL, appKey, appID string) ([]byte, error) {
	d, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, connect.DescriptorParams{Product: p, BaseURL: baseURL, AppKey: appKey})
	if err != nil {
		return nil, fmt.Errorf("descriptor for %s: %w", p, err)
	}
	if appID == "" {
		appID = placeholderForgeAppID
	}
	m, err := connect.RenderForgeManifest(d, connect.ForgeManifestParams{AppID: appID})
	if err != nil {
		return nil, fmt.Errorf("forge manifest for %s: %w", p, err)
	}
	return m, nil
}
