package main

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/example/usercleanup/internal/metrics"
)

// outgoingAPIs classifies the outgoing requests for the metrics by the
// configured endpoints' hosts (a fixed set of names): everything else is a
// tenant's product site (Jira, Confluence), whose hosts are unbounded.
func outgoingAPIs(cfg *config, jcfg jobsConfig, fcfg forgeConfig) metrics.Classifier {
	byHost := map[string]string{}
	add := func(raw, api string) {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			if _, taken := byHost[u.Host]; !taken {
				byHost[u.Host] = api
			}
		}
	}
	add(jcfg.Graph.APIURL, "graph")
	add(jcfg.Graph.LoginURL, "entra_login")
	add(jcfg.AtlassianAPIURL, "atlassian_org")
	for _, k := range cfg.InstallKeysURLs {
		add(k, "install_keys")
	}
	add(fcfg.JWKSURL, "forge_jwks")
	add(fcfg.StagingJWKSURL, "forge_jwks")
	return func(r *http.Request) string {
		if api, ok := byHost[r.URL.Host]; ok {
			if api == "atlassian_org" && strings.HasPrefix(r.URL.Path, "/app/report-accounts") {
				return "atlassian_privacy" // the personal data reporting API on the same host
			}
			return api
		}
		return "atlassian_site"
	}
}
