package connect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// ErrInvalidDescriptor is wrapped by every descriptor template or
// validation failure.
var ErrInvalidDescriptor = errors.New("connect: invalid app descriptor")

// DescriptorParams are the deployment values a descriptor template is
// rendered with.
type DescriptorParams struct {
	Product Product // jira or confluence
	BaseURL string  // public base URL of the backend, e.g. "https://app.example.com"
	AppKey  string  // app key prefix, e.g. "com.example.usercleanup"
}

// Key returns the descriptor key of the app for the product:
// AppKey + "." + product.
func (p DescriptorParams) Key() string { return p.AppKey + "." + string(p.Product) }

// AppBaseURL returns the descriptor baseUrl of the app for the product:
// BaseURL + "/" + product.
func (p DescriptorParams) AppBaseURL() string {
	return strings.TrimSuffix(p.BaseURL, "/") + "/" + string(p.Product)
}

// App returns the App these parameters describe.
func (p DescriptorParams) App() App {
	return App{Key: p.Key(), BaseURL: p.AppBaseURL(), Product: p.Product}
}

var (
	appKeyPattern    = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	moduleKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
	varNamePattern   = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

const (
	maxAppKeyLen    = 64
	maxModuleKeyLen = 100
	maxBaseURLLen   = 200
)

func (p DescriptorParams) validate() error {
	if p.Product != Jira && p.Product != Confluence {
		return fmt.Errorf("%w: unknown product %q", ErrInvalidDescriptor, p.Product)
	}
	if p.AppKey == "" || !appKeyPattern.MatchString(p.AppKey) {
		return fmt.Errorf("%w: app key %q must match %s", ErrInvalidDescriptor, p.AppKey, appKeyPattern)
	}
	if err := checkDescriptorBaseURL(strings.TrimSuffix(p.BaseURL, "/")); err != nil {
		return err
	}
	return nil
}

// RenderDescriptor renders a descriptor template for one product and
// validates the result with ValidateDescriptor.
//
// The template is JSON. String values may contain ${NAME} placeholders:
// APP_KEY, BASE_URL (without trailing slash) and PRODUCT ("jira" or
// "confluence") are built in; a top-level "$vars" object may define more
// per product ({"$vars": {"jira": {"NAME": "value"}, ...}}). An object with
// a "$products" array is kept only when rendering for one of the listed
// products; an array emptied that way is dropped. "$vars" and "$products"
// never reach the output. Substitution happens on decoded strings, so a
// value can never break the JSON structure. The output keeps the
// template's key order, indented by two spaces.
//
// The rendered key must be AppKey+"."+product and baseUrl
// BaseURL+"/"+product.
func RenderDescriptor(tmpl []byte, p DescriptorParams) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	root, err := decodeOrdered(tmpl)
	if err != nil {
		return nil, fmt.Errorf("%w: template: %w", ErrInvalidDescriptor, err)
	}
	obj, ok := root.(*orderedObject)
	if !ok {
		return nil, fmt.Errorf("%w: template is not a JSON object", ErrInvalidDescriptor)
	}
	vars := map[string]string{
		"APP_KEY":  p.AppKey,
		"BASE_URL": strings.TrimSuffix(p.BaseURL, "/"),
		"PRODUCT":  string(p.Product),
	}
	if raw, ok := obj.get("$vars"); ok {
		obj.remove("$vars")
		if err := addProductVars(vars, raw, p.Product); err != nil {
			return nil, err
		}
	}
	out, keep, err := renderNode(obj, p.Product, vars, "")
	if err != nil {
		return nil, err
	}
	if !keep {
		return nil, fmt.Errorf("%w: template excludes the whole descriptor", ErrInvalidDescriptor)
	}
	var buf bytes.Buffer
	if err := encodeOrdered(&buf, out, ""); err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrInvalidDescriptor, err)
	}
	buf.WriteByte('\n')
	rendered := buf.Bytes()
	if err := ValidateDescriptor(rendered); err != nil {
		return nil, err
	}
	var top struct {
		Key     string `json:"key"`
		BaseURL string `json:"baseUrl"`
	}
	if err := json.Unmarshal(rendered, &top); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDescriptor, err)
	}
	if top.Key != p.Key() {
		return nil, fmt.Errorf("%w: key %q, want %q", ErrInvalidDescriptor, top.Key, p.Key())
	}
	if top.BaseURL != p.AppBaseURL() {
		return nil, fmt.Errorf("%w: baseUrl %q, want %q", ErrInvalidDescriptor, top.BaseURL, p.AppBaseURL())
	}
	return rendered, nil
}

func addProductVars(vars map[string]string, raw any, product Product) error {
	all, ok := raw.(*orderedObject)
	if !ok {
		return fmt.Errorf("%w: $vars must be an object", ErrInvalidDescriptor)
	}
	pv, ok := all.get(string(product))
	if !ok {
		return nil
	}
	obj, ok := pv.(*orderedObject)
	if !ok {
		return fmt.Errorf("%w: $vars.%s must be an object", ErrInvalidDescriptor, product)
	}
	for i, name := range obj.keys {
		s, ok := obj.vals[i].(string)
		if !ok || !varNamePattern.MatchString(name) {
			return fmt.Errorf("%w: $vars.%s.%s must be an upper-case name with a string value", ErrInvalidDescriptor, product, name)
		}
		if _, builtIn := vars[name]; builtIn {
			return fmt.Errorf("%w: $vars.%s.%s redefines a variable", ErrInvalidDescriptor, product, name)
		}
		vars[name] = s
	}
	return nil
}

// renderNode returns the rendered node and whether it is kept.
func renderNode(n any, product Product, vars map[string]string, path string) (any, bool, error) {
	switch v := n.(type) {
	case *orderedObject:
		out := &orderedObject{}
		for i, k := range v.keys {
			if k == "$products" {
				list, ok := v.vals[i].([]any)
				if !ok {
					return nil, false, fmt.Errorf("%w: %s.$products must be an array", ErrInvalidDescriptor, path)
				}
				found := false
				for _, e := range list {
					s, ok := e.(string)
					if !ok {
						return nil, false, fmt.Errorf("%w: %s.$products must list product names", ErrInvalidDescriptor, path)
					}
					found = found || Product(s) == product
				}
				if !found {
					return nil, false, nil
				}
				continue
			}
			if strings.HasPrefix(k, "$") {
				return nil, false, fmt.Errorf("%w: unknown directive %s.%s", ErrInvalidDescriptor, path, k)
			}
			child, keep, err := renderNode(v.vals[i], product, vars, path+"."+k)
			if err != nil {
				return nil, false, err
			}
			if !keep {
				continue
			}
			if arr, ok := child.([]any); ok && len(arr) == 0 {
				if src, ok := v.vals[i].([]any); ok && len(src) > 0 {
					continue // emptied by $products filtering
				}
			}
			out.keys = append(out.keys, k)
			out.vals = append(out.vals, child)
		}
		return out, true, nil
	case []any:
		out := make([]any, 0, len(v))
		for i, e := range v {
			child, keep, err := renderNode(e, product, vars, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, false, err
			}
			if keep {
				out = append(out, child)
			}
		}
		return out, true, nil
	case string:
		s, err := expandVars(v, vars)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: %w", ErrInvalidDescriptor, path, err)
		}
		return s, true, nil
	}
	return n, true, nil
}

func expandVars(s string, vars map[string]string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated placeholder in %q", s)
		}
		name := s[i+2 : i+j]
		val, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("unknown placeholder ${%s}", name)
		}
		b.WriteString(val)
		s = s[i+j+1:]
	}
}

// orderedObject is a JSON object that remembers its key order.
type orderedObject struct {
	keys []string
	vals []any
}

func (o *orderedObject) get(k string) (any, bool) {
	if i := slices.Index(o.keys, k); i >= 0 {
		return o.vals[i], true
	}
	return nil, false
}

func (o *orderedObject) remove(k string) {
	if i := slices.Index(o.keys, k); i >= 0 {
		o.keys = slices.Delete(o.keys, i, i+1)
		o.vals = slices.Delete(o.vals, i, i+1)
	}
}

func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

const maxTemplateDepth = 64

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxTemplateDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := &orderedObject{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				if _, dup := obj.get(k); dup {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				obj.keys = append(obj.keys, k)
				obj.vals = append(obj.vals, v)
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	}
	return tok, nil
}

func encodeOrdered(buf *bytes.Buffer, v any, indent string) error {
	const step = "  "
	switch t := v.(type) {
	case *orderedObject:
		if len(t.keys) == 0 {
			buf.WriteString("{}")
			return nil
		}
		buf.WriteString("{\n")
		for i, k := range t.keys {
			buf.WriteString(indent + step)
			if err := encodeScalar(buf, k); err != nil {
				return err
			}
			buf.WriteString(": ")
			if err := encodeOrdered(buf, t.vals[i], indent+step); err != nil {
				return err
			}
			if i < len(t.keys)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString(indent + "}")
		return nil
	case []any:
		if len(t) == 0 {
			buf.WriteString("[]")
			return nil
		}
		buf.WriteString("[\n")
		for i, e := range t {
			buf.WriteString(indent + step)
			if err := encodeOrdered(buf, e, indent+step); err != nil {
				return err
			}
			if i < len(t)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString(indent + "]")
		return nil
	}
	return encodeScalar(buf, v)
}

func encodeScalar(buf *bytes.Buffer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return nil
}

// isPageModule reports whether entries of the module type need a name and
// a url.
func isPageModule(typ string) bool {
	switch typ {
	case "adminPages", "generalPages", "configurePage", "postInstallPage":
		return true
	}
	return false
}

// knownScope reports whether s is a Connect scope (case-insensitive).
func knownScope(s string) bool {
	switch strings.ToUpper(s) {
	case "READ", "WRITE", "DELETE", "PROJECT_ADMIN", "SPACE_ADMIN", "ADMIN", "ACT_AS_USER", "ACCESS_EMAIL_ADDRESSES":
		return true
	}
	return false
}

// dialogSizes are the values of a dialog's options.size.
func dialogSizes() []string {
	return []string{"small", "medium", "large", "x-large", "fullscreen", "maximum"}
}

// ValidateDescriptor checks the structure of a rendered descriptor: the
// required fields and their patterns (app key, https baseUrl except on a
// loopback host, jwt authentication, signed-install and context-qsh
// migrations, relative lifecycle URLs, known scopes) and every module
// (key pattern and uniqueness, required name/url/location, relative URLs,
// dialog options). All problems are reported, joined, each wrapping
// ErrInvalidDescriptor.
func ValidateDescriptor(data []byte) error {
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDescriptor, err)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidDescriptor}, args...)...))
	}
	key, _ := d["key"].(string)
	if key == "" || len(key) > maxAppKeyLen || !appKeyPattern.MatchString(key) {
		bad("key %q must match %s and be at most %d characters", key, appKeyPattern, maxAppKeyLen)
	}
	if name, _ := d["name"].(string); strings.TrimSpace(name) == "" {
		bad("name is required")
	}
	baseURL, _ := d["baseUrl"].(string)
	if err := checkDescriptorBaseURL(baseURL); err != nil {
		errs = append(errs, err)
	}
	if auth, _ := d["authentication"].(map[string]any); auth == nil || !strings.EqualFold(fmt.Sprint(auth["type"]), "jwt") {
		bad("authentication.type must be jwt")
	}
	mig, _ := d["apiMigrations"].(map[string]any)
	for _, m := range []string{"signed-install", "context-qsh"} {
		if mig[m] != true {
			bad("apiMigrations.%s must be true", m)
		}
	}
	lc, _ := d["lifecycle"].(map[string]any)
	for _, ev := range []string{"installed", "uninstalled", "enabled", "disabled"} {
		u, present := lc[ev]
		s, _ := u.(string)
		if (ev == "installed" || ev == "uninstalled") && !present {
			bad("lifecycle.%s is required", ev)
			continue
		}
		if present && !relativeURL(s) {
			bad("lifecycle.%s %q must be a path relative to baseUrl", ev, s)
		}
	}
	scopes, _ := d["scopes"].([]any)
	for _, s := range scopes {
		str, _ := s.(string)
		if !knownScope(str) {
			bad("unknown scope %v", s)
		}
	}
	modules, _ := d["modules"].(map[string]any)
	seen := map[string]string{}
	for _, typ := range sortedKeys(modules) {
		var list []any
		switch m := modules[typ].(type) {
		case []any:
			list = m
		case map[string]any:
			list = []any{m}
		default:
			bad("modules.%s must be an object or an array", typ)
			continue
		}
		for i, e := range list {
			m, ok := e.(map[string]any)
			where := fmt.Sprintf("modules.%s[%d]", typ, i)
			if !ok {
				bad("%s must be an object", where)
				continue
			}
			validateModule(typ, where, m, seen, bad)
		}
	}
	if strings.Contains(string(data), `"$`) {
		bad("template directives left in the output")
	}
	return errors.Join(errs...)
}

func validateModule(typ, where string, m map[string]any, seen map[string]string, bad func(string, ...any)) {
	key, _ := m["key"].(string)
	if key == "" || len(key) > maxModuleKeyLen || !moduleKeyPattern.MatchString(key) {
		bad("%s.key %q must match %s", where, key, moduleKeyPattern)
	} else if prev, dup := seen[key]; dup {
		bad("%s.key %q already used by %s", where, key, prev)
	} else {
		seen[key] = where
	}
	_, hasName := m["name"]
	if hasName || isPageModule(typ) || typ == "webSections" || typ == "webItems" {
		name, _ := m["name"].(map[string]any)
		if v, _ := name["value"].(string); strings.TrimSpace(v) == "" {
			bad("%s.name.value is required", where)
		}
	}
	u, hasURL := m["url"]
	if hasURL || isPageModule(typ) || typ == "dialogs" {
		s, _ := u.(string)
		if !relativeURL(s) {
			bad("%s.url %q must be a path relative to baseUrl", where, s)
		}
	}
	if typ == "webSections" || typ == "webItems" {
		if loc, _ := m["location"].(string); loc == "" {
			bad("%s.location is required", where)
		}
	}
	if loc, ok := m["location"]; ok {
		if s, _ := loc.(string); s == "" {
			bad("%s.location must be a non-empty string", where)
		}
	}
	if typ == "dialogs" {
		opts, _ := m["options"].(map[string]any)
		if size, ok := opts["size"]; ok {
			s, _ := size.(string)
			if !slices.Contains(dialogSizes(), s) {
				bad("%s.options.size %q is not one of %v", where, s, dialogSizes())
			}
		}
		if c, ok := opts["chrome"]; ok {
			if _, isBool := c.(bool); !isBool {
				bad("%s.options.chrome must be a boolean", where)
			}
		}
	}
}

func relativeURL(s string) bool {
	return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//")
}

func checkDescriptorBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "" || err != nil || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%w: baseUrl %q is not an absolute URL", ErrInvalidDescriptor, s)
	case len(s) > maxBaseURLLen:
		return fmt.Errorf("%w: baseUrl longer than %d characters", ErrInvalidDescriptor, maxBaseURLLen)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("%w: baseUrl %q has credentials, query or fragment", ErrInvalidDescriptor, s)
	case strings.HasSuffix(s, "/"):
		return fmt.Errorf("%w: baseUrl %q ends with a slash", ErrInvalidDescriptor, s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil // local development only
	}
	return fmt.Errorf("%w: baseUrl %q must use https", ErrInvalidDescriptor, s)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
