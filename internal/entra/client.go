package entra

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/example/usercleanup/internal/cleanup"
)

// Client talks to Microsoft Graph for one Entra tenant. It implements
// cleanup.IdentityProvider and is safe for concurrent use.
type Client struct {
	cfg     Config
	cred    azcore.TokenCredential
	scope   string
	adapter *msgraphsdk.GraphRequestAdapter
	graph   *msgraphsdk.GraphServiceClient
	limiter *writeLimiter
	log     *slog.Logger
}

var _ cleanup.IdentityProvider = (*Client)(nil)

// defaultTimeout bounds one HTTP exchange when Config.HTTPClient sets none.
const defaultTimeout = 60 * time.Second

// New builds a client. It does not contact Microsoft: call TestConnection
// to check the credentials. Invalid configuration is a KindInvalid error.
func New(ctx context.Context, c Config) (*Client, error) {
	_ = ctx // reserved: building the client does no I/O
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	base := c.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	parent := base.Transport
	if parent == nil {
		parent = http.DefaultTransport
	}
	timeout := base.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}

	credOpts := &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: c.LoginURL + "/"},
			Transport: &http.Client{Transport: parent, Timeout: timeout},
		},
		// Authority validation only knows Microsoft's clouds.
		DisableInstanceDiscovery: c.LoginURL != DefaultLoginURL,
	}
	cred, err := azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.ClientSecret, credOpts)
	if err != nil {
		return nil, &cleanup.Error{Kind: cleanup.KindInvalid, Field: "tenant_id",
			Message: "the directory (tenant) ID or application (client) ID is malformed", Err: err}
	}
	gu, err := url.Parse(c.GraphURL)
	if err != nil { // validated above; keep the error path anyway
		return nil, fmt.Errorf("parse graph url: %w", err)
	}
	scope := c.GraphURL + "/.default"
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{scope}, []string{gu.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph authentication provider: %w", err)
	}
	opts := msgraphsdk.GetDefaultClientOptions()
	hc := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(parent, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...),
		Timeout:   timeout,
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		return nil, fmt.Errorf("graph request adapter: %w", err)
	}
	adapter.SetBaseUrl(c.GraphURL + "/v1.0")
	return &Client{
		cfg:     c,
		cred:    cred,
		scope:   scope,
		adapter: adapter,
		graph:   msgraphsdk.NewGraphServiceClient(adapter),
		limiter: newWriteLimiter(c.WritesPerWindow, c.Window, 2*maxBatch, c.Now, c.Sleep),
		log:     c.Logger.With(slog.String("tenant_id", c.TenantID)),
	}, nil
}
