package apitypes

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// The generated types are stale when the schema changed since go generate last ran.
func TestGeneratedTypesMatchTheSchema(t *testing.T) {
	schema, err := os.ReadFile("../../openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := os.ReadFile("openapi.sha256")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(schema)
	if hex.EncodeToString(sum[:]) != strings.TrimSpace(string(recorded)) {
		t.Fatal("clients/openapi.json changed: run `go generate ./...` in clients/go and commit types.gen.go")
	}
}
