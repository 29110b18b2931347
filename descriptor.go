// Package usercleanup embeds the Atlassian Connect app descriptor template
// (atlassian-connect.json). Render it per product with
// connect.RenderDescriptor.
package usercleanup

import _ "embed"

// DescriptorTemplate is the descriptor template: JSON with ${APP_KEY},
// ${BASE_URL}, ${PRODUCT} and per-product "$vars" placeholders and
// "$products" filters (see connect.RenderDescriptor).
//
//go:embed atlassian-connect.json
var DescriptorTemplate []byte
