package connect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// ForgeManifestParams are the Forge-only values of a Connect on Forge
// manifest; everything else comes from the rendered descriptor.
type ForgeManifestParams struct {
	// AppID is the Forge app ARI ("ari:cloud:ecosystem::app/<uuid>", or
	// the bare uuid) that `forge register` assigned.
	AppID string
	// Runtime is app.runtime.name (default DefaultForgeRuntime). Forge
	// requires one even for an app without Forge functions.
	Runtime string
}

// DefaultForgeRuntime is the app.runtime.name of generated manifests.
const DefaultForgeRuntime = "nodejs22.x"

// ForgeRemoteKey is the key of the remote that serves the Connect modules
// (app.connect.remote).
const ForgeRemoteKey = "connect"

// ForgeLifecycleKey is the key of the generated <product>:lifecycle module.
const ForgeLifecycleKey = "lifecycle-events"

// ForgeScope maps a Connect descriptor scope to the Forge manifest scope
// that grants it to a Connect app registered on Forge
// (read:connect-jira, admin:connect-confluence, ...).
func ForgeScope(p Product, scope string) (string, error) {
	var s string
	switch strings.ToUpper(scope) {
	case "READ":
		s = "read"
	case "WRITE":
		s = "write"
	case "DELETE":
		s = "delete"
	case "ADMIN":
		s = "admin"
	case "ACT_AS_USER":
		s = "act-as-user"
	case "ACCESS_EMAIL_ADDRESSES":
		s = "access-email-addresses"
	case "PROJECT_ADMIN":
		if p != Jira {
			return "", fmt.Errorf("%w: scope PROJECT_ADMIN is Jira-only", ErrInvalidDescriptor)
		}
		s = "project-admin"
	case "SPACE_ADMIN":
		if p != Confluence {
			return "", fmt.Errorf("%w: scope SPACE_ADMIN is Confluence-only", ErrInvalidDescriptor)
		}
		s = "space-admin"
	default:
		return "", fmt.Errorf("%w: unknown scope %q", ErrInvalidDescriptor, scope)
	}
	return s + ":connect-" + string(p), nil
}

// RenderForgeManifest turns a rendered (and valid) Connect descriptor into
// the manifest.yml that registers the same app on Forge (Connect on
// Forge), so the two are generated from one source and cannot drift:
//
//   - app.id and app.runtime from p; app.description from the descriptor;
//   - app.connect: key = descriptor key, remote = ForgeRemoteKey,
//     authentication = jwt;
//   - remotes: ForgeRemoteKey with baseUrl = descriptor baseUrl, declared
//     as storing in-scope end-user data (the backend stores account ids);
//   - permissions.scopes: each descriptor scope mapped by ForgeScope;
//     permissions.external.fetch.backend: the remote;
//   - connectModules: "<product>:lifecycle" with the descriptor's
//     lifecycle URLs under ForgeLifecycleKey, then every descriptor
//     module type as "<product>:<type>", each a list (single-object
//     modules such as configurePage become a list of one), module
//     contents unchanged and in descriptor order.
//
// The output is YAML in block style with every string double-quoted.
func RenderForgeManifest(descriptor []byte, p ForgeManifestParams) ([]byte, error) {
	if err := ValidateDescriptor(descriptor); err != nil {
		return nil, err
	}
	appID, err := ForgeAppARI(p.AppID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDescriptor, err)
	}
	if appID == "" {
		return nil, fmt.Errorf("%w: Forge app id required", ErrInvalidDescriptor)
	}
	runtime := p.Runtime
	if runtime == "" {
		runtime = DefaultForgeRuntime
	}
	root, err := decodeOrdered(descriptor)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDescriptor, err)
	}
	d, ok := root.(*orderedObject)
	if !ok {
		return nil, fmt.Errorf("%w: descriptor is not a JSON object", ErrInvalidDescriptor)
	}
	key, baseURL := orderedString(d, "key"), orderedString(d, "baseUrl")
	product, err := descriptorProduct(key)
	if err != nil {
		return nil, err
	}
	perms, err := forgePermissions(d, product)
	if err != nil {
		return nil, err
	}
	modules, err := forgeModules(d, product)
	if err != nil {
		return nil, err
	}
	obj := newOrdered
	app := forgeApp(d, appID, runtime, key)
	manifest := obj(
		"app", app,
		"remotes", []any{obj(
			"key", ForgeRemoteKey,
			"baseUrl", baseURL,
			"operations", []any{"storage", "other"},
			"storage", obj("inScopeEUD", true),
		)},
		"permissions", perms,
		"connectModules", modules,
	)
	var buf bytes.Buffer
	buf.WriteString("# Connect on Forge manifest for " + key + ", generated from atlassian-connect.json\n")
	buf.WriteString("# by `usercleanup forge-manifest`. Do not edit: change the descriptor template and regenerate.\n")
	if err := writeYAML(&buf, manifest, ""); err != nil {
		return nil, fmt.Errorf("%w: encode manifest: %w", ErrInvalidDescriptor, err)
	}
	return buf.Bytes(), nil
}

// newOrdered returns an object of the key, value pairs, in order.
func newOrdered(kv ...any) *orderedObject {
	o := &orderedObject{}
	for i := 0; i < len(kv); i += 2 {
		o.keys = append(o.keys, kv[i].(string))
		o.vals = append(o.vals, kv[i+1])
	}
	return o
}

// orderedString returns the string at k ("" when absent or not a string).
func orderedString(o *orderedObject, k string) string {
	v, _ := o.get(k)
	s, _ := v.(string)
	return s
}

// forgeApp is the manifest's app section.
func forgeApp(d *orderedObject, appID, runtime, key string) *orderedObject {
	app := newOrdered("id", appID)
	if desc := orderedString(d, "description"); desc != "" {
		app = newOrdered("id", appID, "description", desc)
	}
	app.keys = append(app.keys, "runtime", "connect")
	app.vals = append(app.vals,
		newOrdered("name", runtime),
		newOrdered("key", key, "remote", ForgeRemoteKey, "authentication", "jwt"))
	return app
}

// forgePermissions maps the descriptor's scopes and allows fetches to the
// remote.
func forgePermissions(d *orderedObject, product Product) (*orderedObject, error) {
	var scopes []any
	if raw, ok := d.get("scopes"); ok {
		list, isList := raw.([]any)
		if !isList {
			return nil, fmt.Errorf("%w: scopes must be an array", ErrInvalidDescriptor)
		}
		for _, s := range list {
			str, _ := s.(string)
			fs, err := ForgeScope(product, str)
			if err != nil {
				return nil, err
			}
			scopes = append(scopes, fs)
		}
	}
	perms := &orderedObject{}
	if len(scopes) > 0 {
		perms.keys, perms.vals = append(perms.keys, "scopes"), append(perms.vals, scopes)
	}
	perms.keys = append(perms.keys, "external")
	perms.vals = append(perms.vals, newOrdered("fetch", newOrdered("backend", []any{newOrdered("remote", ForgeRemoteKey)})))
	return perms, nil
}

// forgeModules is the manifest's connectModules: the lifecycle, then every
// descriptor module type as a list, in descriptor order.
func forgeModules(d *orderedObject, product Product) (*orderedObject, error) {
	modules := &orderedObject{}
	if raw, ok := d.get("lifecycle"); ok {
		lc, isObj := raw.(*orderedObject)
		if !isObj {
			return nil, fmt.Errorf("%w: lifecycle must be an object", ErrInvalidDescriptor)
		}
		m := newOrdered("key", ForgeLifecycleKey)
		m.keys = append(m.keys, lc.keys...)
		m.vals = append(m.vals, lc.vals...)
		modules.keys = append(modules.keys, string(product)+":lifecycle")
		modules.vals = append(modules.vals, []any{m})
	}
	if raw, ok := d.get("modules"); ok {
		mods, isObj := raw.(*orderedObject)
		if !isObj {
			return nil, fmt.Errorf("%w: modules must be an object", ErrInvalidDescriptor)
		}
		for i, typ := range mods.keys {
			v := mods.vals[i]
			if _, isList := v.([]any); !isList {
				v = []any{v}
			}
			modules.keys = append(modules.keys, string(product)+":"+typ)
			modules.vals = append(modules.vals, v)
		}
	}
	return modules, nil
}

// descriptorProduct returns the product a descriptor key ends with.
func descriptorProduct(key string) (Product, error) {
	for _, p := range []Product{Jira, Confluence} {
		if strings.HasSuffix(key, "."+string(p)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: key %q does not end with .jira or .confluence", ErrInvalidDescriptor, key)
}

var plainYAMLKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*(:[A-Za-z][A-Za-z0-9_.-]*)?$`)

func yamlKey(k string) (string, error) {
	if plainYAMLKey.MatchString(k) {
		return k, nil
	}
	var b bytes.Buffer
	if err := encodeScalar(&b, k); err != nil {
		return "", err
	}
	return b.String(), nil
}

// writeYAML writes v as block-style YAML at the indentation. Mapping
// values that are non-empty objects or arrays go on the following lines;
// scalars (strings always double-quoted, JSON-escaped) and empty
// collections ({} and []) stay on the key's line.
func writeYAML(buf *bytes.Buffer, v any, indent string) error {
	switch t := v.(type) {
	case *orderedObject:
		for i, k := range t.keys {
			yk, err := yamlKey(k)
			if err != nil {
				return err
			}
			buf.WriteString(indent + yk + ":")
			if err := writeYAMLValue(buf, t.vals[i], indent+"  "); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for _, e := range t {
			buf.WriteString(indent + "-")
			if o, ok := e.(*orderedObject); ok && len(o.keys) > 0 {
				// First key on the dash line, the rest aligned under it.
				var inner bytes.Buffer
				if err := writeYAML(&inner, o, indent+"  "); err != nil {
					return err
				}
				buf.WriteString(" ")
				buf.Write(bytes.TrimPrefix(inner.Bytes(), []byte(indent+"  ")))
				continue
			}
			if err := writeYAMLValue(buf, e, indent+"  "); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unexpected %T at the top level", v)
}

func writeYAMLValue(buf *bytes.Buffer, v any, indent string) error {
	switch t := v.(type) {
	case *orderedObject:
		if len(t.keys) == 0 {
			buf.WriteString(" {}\n")
			return nil
		}
		buf.WriteString("\n")
		return writeYAML(buf, t, indent)
	case []any:
		if len(t) == 0 {
			buf.WriteString(" []\n")
			return nil
		}
		buf.WriteString("\n")
		return writeYAML(buf, t, indent)
	case string, json.Number, bool, nil:
		buf.WriteString(" ")
		if err := encodeScalar(buf, t); err != nil {
			return err
		}
		buf.WriteString("\n")
		return nil
	}
	return fmt.Errorf("unexpected %T", v)
}
