package micro

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"
)

// vectorsPath is the shared table every Micro SDK judges (clients/testdata).
const vectorsPath = "../testdata/vectors.json"

type vectorTable struct {
	Issuer           string          `json:"issuer"`
	Audience         string          `json:"audience"`
	UpstreamAudience string          `json:"upstream_audience"`
	Now              int64           `json:"now"`
	Leeway           int64           `json:"leeway"`
	JWKS             json.RawMessage `json:"jwks"`
	Cases            []struct {
		Name      string           `json:"name"`
		Accept    string           `json:"accept"`
		Token     string           `json:"token"`
		Valid     bool             `json:"valid"`
		Reason    *string          `json:"reason"`
		Principal *vectorPrincipal `json:"principal"`
	} `json:"cases"`
}

type vectorPrincipal struct {
	UserID   string   `json:"user_id"`
	Username string   `json:"username"`
	Kind     string   `json:"kind"`
	Scopes   []string `json:"scopes"`
	Groups   []string `json:"groups"`
	AMR      []string `json:"amr"`
	ClientID *string  `json:"client_id"`
	TokenID  string   `json:"token_id"`
	Audience string   `json:"audience"`
	Personal bool     `json:"personal"`
}

func loadVectors(t testing.TB) *vectorTable {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("the shared test vectors: %v", err)
	}
	var table vectorTable
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	return &table
}

// vectorVerifiers are the access and upstream verifiers the table is judged by: its JWKS from
// a fake source (no network), its clock and its leeway.
func vectorVerifiers(t testing.TB, table *vectorTable) map[string]*Verifier {
	t.Helper()
	cfg := Config{
		Issuer:    table.Issuer,
		Leeway:    time.Duration(table.Leeway) * time.Second,
		Clock:     func() time.Time { return time.Unix(table.Now, 0) },
		FetchJWKS: func(context.Context) ([]byte, error) { return table.JWKS, nil },
	}
	access, upstream := cfg, cfg
	access.Audience, upstream.Audience = table.Audience, table.UpstreamAudience
	accessVerifier, err := NewVerifier(access)
	if err != nil {
		t.Fatal(err)
	}
	upstreamVerifier, err := NewUpstreamVerifier(upstream)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Verifier{"access": accessVerifier, "upstream": upstreamVerifier}
}

func TestSharedVectors(t *testing.T) {
	table := loadVectors(t)
	verifiers := vectorVerifiers(t, table)
	if len(table.Cases) == 0 {
		t.Fatal("no cases in the shared vectors")
	}
	for _, tc := range table.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			verifier := verifiers[tc.Accept]
			if verifier == nil {
				t.Fatalf("unknown accept %q", tc.Accept)
			}
			principal, err := verifier.Verify(context.Background(), tc.Token)
			if !tc.Valid {
				if tc.Reason == nil || ReasonOf(err) != Reason(*tc.Reason) {
					t.Fatalf("want refused (%v), got %v", deref(tc.Reason), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			got := vectorPrincipal{
				UserID: principal.UserID, Username: principal.Username, Kind: principal.Kind,
				Scopes: principal.Scopes, Groups: principal.Groups, AMR: principal.AMR,
				ClientID: principal.ClientID, TokenID: principal.TokenID, Audience: principal.Audience,
				Personal: principal.IsPersonalSignIn(),
			}
			assertSamePrincipal(t, &got, tc.Principal)
		})
	}
}

func assertSamePrincipal(t *testing.T, got, want *vectorPrincipal) {
	t.Helper()
	gotValue, wantValue := reflect.ValueOf(*got), reflect.ValueOf(*want)
	for i := range gotValue.NumField() {
		name := gotValue.Type().Field(i).Name
		if !reflect.DeepEqual(gotValue.Field(i).Interface(), wantValue.Field(i).Interface()) {
			t.Errorf("%s: got %#v, want %#v", name, gotValue.Field(i).Interface(), wantValue.Field(i).Interface())
		}
	}
}
