package connect_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/example/usercleanup/connect"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "super-secret-value-0123456789"
	tn := connect.Tenant{ClientKey: "c", SharedSecret: value}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("tenant", "secret", tn.SharedSecret, "tenant", tn)
	js, err := json.Marshal(tn)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":    fmt.Sprintf("%v", tn.SharedSecret),
		"%s":    fmt.Sprintf("%s", tn.SharedSecret),
		"%#v":   fmt.Sprintf("%#v", tn.SharedSecret),
		"%+v":   fmt.Sprintf("%+v", tn),
		"%#v t": fmt.Sprintf("%#v", tn),
		"json":  string(js),
		"slog":  logs.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, value) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s does not show the redaction marker: %s", name, out)
		}
	}
	if tn.SharedSecret.Reveal() != value {
		t.Fatal("Reveal lost the value")
	}
	if got := connect.Secret("").String(); got != "" {
		t.Errorf("empty secret prints %q", got)
	}
}
