// Package apitypes holds the Micro API's request and response types, generated from the
// checked-in OpenAPI schema (clients/openapi.json) by oapi-codegen. Do not edit types.gen.go:
// run go generate ./... after the schema changes (the test in this package fails until then).
package apitypes

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml ../../openapi.json
//go:generate sh -c "sha256sum ../../openapi.json | cut -c1-64 > openapi.sha256"
