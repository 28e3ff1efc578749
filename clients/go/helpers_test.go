package micro

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	testIssuerAudience   = "micro"
	testUpstreamAudience = "micro-upstream"
	testUserID           = "7a3c1f5e-2b4d-4e6f-8a9b-0c1d2e3f4a5b"
)

var (
	testKeysOnce sync.Once
	testKeys     [2]*rsa.PrivateKey
)

// testKey is one of two RSA keys made once per test run (kid k1 and k2).
func testKey(t testing.TB, index int) *rsa.PrivateKey {
	t.Helper()
	testKeysOnce.Do(func() {
		for i := range testKeys {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys[i] = key
		}
	})
	return testKeys[index]
}

// fakeIssuer serves a discovery document and a JWKS whose keys a test can change.
type fakeIssuer struct {
	server    *httptest.Server
	mu        sync.Mutex
	keys      map[string]*rsa.PrivateKey
	fetches   atomic.Int64
	failing   atomic.Bool
	jwksDelay time.Duration
	// documentIssuer, when set, is the issuer the discovery document names instead of its own.
	documentIssuer atomic.Pointer[string]
}

func newFakeIssuer(t testing.TB, keys map[string]*rsa.PrivateKey) *fakeIssuer {
	t.Helper()
	issuer := &fakeIssuer{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		named := issuer.URL()
		if other := issuer.documentIssuer.Load(); other != nil {
			named = *other
		}
		writeJSON(w, map[string]string{"issuer": named, "jwks_uri": issuer.URL() + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		issuer.fetches.Add(1)
		time.Sleep(issuer.jwksDelay)
		if issuer.failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, issuer.jwks())
	})
	issuer.server = httptest.NewServer(mux)
	t.Cleanup(issuer.server.Close)
	return issuer
}

func (f *fakeIssuer) URL() string { return f.server.URL }

func (f *fakeIssuer) setKeys(keys map[string]*rsa.PrivateKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = keys
}

func (f *fakeIssuer) jwks() jose.JSONWebKeySet {
	f.mu.Lock()
	defer f.mu.Unlock()
	var set jose.JSONWebKeySet
	for kid, key := range f.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	}
	return set
}

func writeJSON(w http.ResponseWriter, body any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// testClock is a settable clock for a verifier.
type testClock struct{ now atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.now.Store(time.Unix(1_900_000_000, 0).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *testClock) Advance(d time.Duration) { c.now.Add(int64(d)) }
func (c *testClock) Unix() int64             { return c.Now().Unix() }

// accessClaims are the claims of a valid access token at the clock's time.
func accessClaims(issuer string, clock *testClock) map[string]any {
	return map[string]any{
		"iss": issuer, "aud": testIssuerAudience, "sub": testUserID,
		"exp": clock.Unix() + 600, "iat": clock.Unix(), "jti": "jti-1",
		"scope": "profile users:read", "username": "alice", "kind": "user",
		"groups": []string{}, "amr": []string{"pwd"}, "token_type": "access",
	}
}

// sign makes a compact JWS of claims signed by key, with typ, kid and any extra headers.
func sign(t testing.TB, key *rsa.PrivateKey, kid, typ string, claims map[string]any, extra map[string]any) string {
	t.Helper()
	options := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	for name, value := range extra {
		options = options.WithHeader(jose.HeaderKey(name), value)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, options)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	object, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := object.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// newTestVerifier is an access-token verifier of issuer at clock.
func newTestVerifier(t testing.TB, issuer *fakeIssuer, clock *testClock) *Verifier {
	t.Helper()
	verifier, err := NewVerifier(Config{
		Issuer: issuer.URL(), Audience: testIssuerAudience, Clock: clock.Now,
		MinRefetchInterval: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return verifier
}
