package micro

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIntrospection answers /o/introspect/ for the client svc:s3cret: active for "live", and
// for "upstream" only with the upstream hint.
func fakeIntrospection(t *testing.T, calls *atomic.Int64) *httptest.Server {
	t.Helper()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		user, password, ok := r.BasicAuth()
		if r.URL.Path != "/o/introspect/" || r.Method != http.MethodPost || !ok || user != "svc" || password != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		token, hint := r.PostFormValue("token"), r.PostFormValue("token_type_hint")
		active := token == "live" || (token == "upstream" && hint == "upstream_token")
		writeJSON(w, map[string]any{"active": active, "sub": testUserID, "exp": 1_900_000_600})
	}))
	t.Cleanup(server.Close)
	return server
}

func TestIntrospectorCachesAnswersForTheTTL(t *testing.T) {
	var calls atomic.Int64
	server := fakeIntrospection(t, &calls)
	clock := newTestClock()
	introspector, err := NewIntrospector(IntrospectorConfig{
		Issuer: server.URL, ClientID: "svc", ClientSecret: "s3cret", TTL: 5 * time.Second, Clock: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if err := introspector.Active(ctx, "live"); err != nil {
			t.Fatal(err)
		}
	}
	if !errors.Is(introspector.Active(ctx, "revoked"), ErrTokenInactive) {
		t.Fatal("a revoked token is active")
	}
	if got := calls.Load(); got != 2 {
		t.Fatalf("%d calls, want one per token within the TTL", got)
	}
	clock.Advance(5 * time.Second)
	_ = introspector.Active(ctx, "live")
	if got := calls.Load(); got != 3 {
		t.Fatalf("%d calls, want a new one after the TTL", got)
	}
}

func TestIntrospectorUpstreamHint(t *testing.T) {
	var calls atomic.Int64
	server := fakeIntrospection(t, &calls)
	plain, _ := NewIntrospector(IntrospectorConfig{Issuer: server.URL, ClientID: "svc", ClientSecret: "s3cret"})
	hinted, _ := NewIntrospector(IntrospectorConfig{Issuer: server.URL, ClientID: "svc", ClientSecret: "s3cret", UpstreamHint: true})
	if !errors.Is(plain.Active(context.Background(), "upstream"), ErrTokenInactive) {
		t.Fatal("an upstream token is active without the hint")
	}
	if err := hinted.Active(context.Background(), "upstream"); err != nil {
		t.Fatal(err)
	}
}

func TestIntrospectorReportsARefusedClient(t *testing.T) {
	var calls atomic.Int64
	server := fakeIntrospection(t, &calls)
	introspector, _ := NewIntrospector(IntrospectorConfig{Issuer: server.URL, ClientID: "svc", ClientSecret: "wrong"})
	err := introspector.Active(context.Background(), "live")
	if err == nil || errors.Is(err, ErrTokenInactive) {
		t.Fatalf("want a client error, got %v", err)
	}
	if _, err := NewIntrospector(IntrospectorConfig{Issuer: "http://id.test", ClientID: "a", ClientSecret: "b"}); !errors.Is(err, ErrInsecureURL) {
		t.Fatalf("plain http issuer: %v", err)
	}
}

func TestIntrospectorDoesNotFollowRedirects(t *testing.T) {
	var calls atomic.Int64
	target := fakeIntrospection(t, &calls)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(origin.Close)
	for _, client := range []*http.Client{nil, {}} {
		introspector, err := NewIntrospector(IntrospectorConfig{
			Issuer: origin.URL, ClientID: "svc", ClientSecret: "s3cret", HTTPClient: client,
		})
		if err != nil {
			t.Fatal(err)
		}
		err = introspector.Active(context.Background(), "live")
		if err == nil || errors.Is(err, ErrTokenInactive) {
			t.Fatalf("want an error for a redirect, got %v", err)
		}
	}
	if got := calls.Load(); got != 0 {
		t.Fatalf("the redirect target got %d requests with the client secret and the token", got)
	}
}

func TestIntrospectorNeverCachesAnError(t *testing.T) {
	var calls atomic.Int64
	var down atomic.Bool
	down.Store(true)
	target := fakeIntrospection(t, &calls)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		target.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(server.Close)
	introspector, _ := NewIntrospector(IntrospectorConfig{Issuer: server.URL, ClientID: "svc", ClientSecret: "s3cret"})
	ctx := context.Background()
	if err := introspector.Active(ctx, "revoked"); err == nil || errors.Is(err, ErrTokenInactive) {
		t.Fatalf("issuer down: want an error that is not a verdict, got %v", err)
	}
	down.Store(false)
	if err := introspector.Active(ctx, "revoked"); !errors.Is(err, ErrTokenInactive) {
		t.Fatalf("after the outage: %v", err)
	}
	if err := introspector.Active(ctx, "live"); err != nil {
		t.Fatalf("a live token: %v", err)
	}
}
