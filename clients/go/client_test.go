package micro

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micro-user-service/micro/clients/go/apitypes"
)

// fakeAPI is a Micro API that exchanges the key mk_test for tokens tok-1, tok-2... and
// answers the users lookup with an ETag.
type fakeAPI struct {
	server      *httptest.Server
	exchanges   atomic.Int64
	attempts    atomic.Int64 // exchanges asked for, refused ones included
	notModified atomic.Int64
	lifetime    int
	refuse      sync.Map // tokens the API answers 401 for
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	api := &fakeAPI{lifetime: 600}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/token/exchange", func(w http.ResponseWriter, r *http.Request) {
		api.attempts.Add(1)
		if r.Header.Get("Authorization") != "Bearer mk_test" {
			problem(w, 401, "authentication_failed", "No valid API key.")
			return
		}
		var body map[string]any // the API refuses a body that is not a JSON object, as the server does
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body == nil {
			problem(w, 400, "invalid", "The request body must be a JSON object.")
			return
		}
		n := api.exchanges.Add(1)
		time.Sleep(10 * time.Millisecond) // concurrent callers overlap
		writeJSON(w, map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": api.lifetime, "scope": "users:read"})
	})
	mux.HandleFunc("GET /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		if !api.authorized(w, r) {
			return
		}
		if r.URL.Query().Get("username") == "nobody" {
			writeJSON(w, map[string]any{"results": []any{}})
			return
		}
		const etag = `"v1"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			api.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		var results []map[string]any
		for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
			results = append(results, map[string]any{"id": id, "username": "u-" + id, "kind": "user", "display_name": "", "avatar_url": "", "created_at": "2026-01-01T00:00:00Z"})
		}
		writeJSON(w, map[string]any{"results": results})
	})
	mux.HandleFunc("GET /api/v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if api.authorized(w, r) {
			problem(w, 404, "user_not_found", "No user with this id.")
		}
	})
	mux.HandleFunc("POST /user/{method}", func(w http.ResponseWriter, r *http.Request) {
		if !api.authorized(w, r) {
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if r.PathValue("method") != "read" || body["email"] != "alice@example.com" {
			problem(w, 400, "invalid", "unexpected call")
			return
		}
		writeJSON(w, map[string]any{"user": map[string]any{"id": "u1", "username": "alice", "email": body["email"], "kind": "user", "created_at": "2026-01-01T00:00:00Z"}})
	})
	api.server = httptest.NewServer(mux)
	t.Cleanup(api.server.Close)
	return api
}

func (a *fakeAPI) authorized(w http.ResponseWriter, r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer tok-")
	if _, refused := a.refuse.Load("tok-" + token); !ok || refused {
		w.Header().Set("WWW-Authenticate", `Bearer realm="micro"`)
		problem(w, 401, "authentication_failed", "The access token is invalid or expired.")
		return false
	}
	return true
}

func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", ProblemContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "urn:micro:problem:" + code, "title": http.StatusText(status), "status": status, "detail": detail, "code": code})
}

func TestAPIKeyIsExchangedOnceForConcurrentRequests(t *testing.T) {
	api := newFakeAPI(t)
	client := NewClient(api.server.URL, WithAPIKey("mk_test"))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Users().BatchRead(context.Background(), []string{"a"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := api.exchanges.Load(); got != 1 {
		t.Fatalf("%d exchanges for concurrent requests, want 1", got)
	}
}

func TestAPIKeyTokenIsRefreshedBeforeExpiry(t *testing.T) {
	api := newFakeAPI(t)
	api.lifetime = 300 // refreshed a minute before it expires
	client := NewClient(api.server.URL, WithAPIKey("mk_test"))
	clock := newTestClock()
	client.credentials.(*APIKeySource).cache.now = clock.Now
	ctx := context.Background()
	source := client.credentials.(*APIKeySource)
	first, _ := source.Token(ctx)
	clock.Advance(239 * time.Second)
	if again, _ := source.Token(ctx); again != first {
		t.Fatalf("token replaced too early: %s", again)
	}
	clock.Advance(time.Second)
	if next, _ := source.Token(ctx); next == first {
		t.Fatal("token not replaced a minute before its expiry")
	}
}

func TestA401IsRetriedOnceWithAFreshToken(t *testing.T) {
	api := newFakeAPI(t)
	api.refuse.Store("tok-1", true) // revoked or expired early
	client := NewClient(api.server.URL, WithAPIKey("mk_test"))
	if _, err := client.Users().BatchRead(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if got := api.exchanges.Load(); got != 2 {
		t.Fatalf("%d exchanges, want 2", got)
	}
	_, err := NewClient(api.server.URL, WithToken("tok-1")).Users().BatchRead(context.Background(), []string{"a"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Code != "authentication_failed" {
		t.Fatalf("a fixed token refused: %v", err)
	}
}

func TestARefusedCredentialIsNotAskedForTwice(t *testing.T) {
	api := newFakeAPI(t)
	_, err := NewClient(api.server.URL, WithAPIKey("mk_revoked")).Users().BatchRead(context.Background(), []string{"a"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Code != "authentication_failed" {
		t.Fatalf("a revoked API key: %v", err)
	}
	if got := api.attempts.Load(); got != 1 {
		t.Fatalf("%d exchanges of a revoked API key for one call, want 1", got)
	}
}

func TestBatchReadRevalidatesWithTheETag(t *testing.T) {
	api := newFakeAPI(t)
	client := NewClient(api.server.URL, WithToken("tok-9"))
	ctx := context.Background()
	first, err := client.Users().BatchRead(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := client.Users().BatchRead(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if api.notModified.Load() != 1 || len(second) != 2 || second[1].Username != first[1].Username {
		t.Fatalf("304s %d, second answer %+v", api.notModified.Load(), second)
	}
}

func TestAPIErrorCarriesTheProblem(t *testing.T) {
	api := newFakeAPI(t)
	client := NewClient(api.server.URL, WithToken("tok-9"))
	_, err := client.Users().Read(context.Background(), "00000000-0000-0000-0000-000000000000")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Code != "user_not_found" ||
		apiErr.Title != "Not Found" || apiErr.Detail != "No user with this id." || !IsNotFound(err) {
		t.Fatalf("problem: %#v", err)
	}
	if _, err := client.Users().ByUsername(context.Background(), "nobody"); !IsNotFound(err) {
		t.Fatalf("unknown username: %v", err)
	}
}

func TestByEmailReadsThroughTheRPCFacade(t *testing.T) {
	api := newFakeAPI(t)
	found, err := NewClient(api.server.URL, WithToken("tok-9")).Users().ByEmail(context.Background(), "alice@example.com")
	if err != nil || found.Id != "u1" || found.Email != "alice@example.com" {
		t.Fatalf("%+v %v", found, err)
	}
}

func TestQueryOfEncodesTheSetParameters(t *testing.T) {
	size, user := 50, "u1"
	query := queryOf(apitypes.ApiKeysRetrieveParams{PageSize: &size, UserId: &user})
	if query.Encode() != "page_size=50&user_id=u1" {
		t.Fatal(query.Encode())
	}
	next := "https://id.test/api/v1/objects?cursor=abc%3D&page_size=5"
	if cursor := (&Page[int]{Next: &next}).NextCursor(); cursor != "abc=" {
		t.Fatal(cursor)
	}
}

// redirectingAPI answers every request with a redirect to target, and records what target
// received.
func redirectingAPI(t *testing.T, status int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		writeJSON(w, map[string]any{"access_token": "tok-1", "expires_in": 600, "results": []any{}})
	}))
	t.Cleanup(target.Close)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, status)
	}))
	t.Cleanup(origin.Close)
	return origin, &reached
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		origin, reached := redirectingAPI(t, status)
		ctx := context.Background()
		_, err := NewClient(origin.URL, WithToken("tok-9")).Users().BatchRead(ctx, []string{"a"})
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status != status {
			t.Fatalf("%d: want an *APIError with the redirect's status, got %v", status, err)
		}
		_, err = NewClient(origin.URL).Auth().SignIn(ctx, apitypes.TokenObtainInRequest{Username: "alice", Password: "pw"})
		if !errors.As(err, &apiErr) || apiErr.Status != status {
			t.Fatalf("%d: sign-in: want an *APIError with the redirect's status, got %v", status, err)
		}
		_, err = NewClient(origin.URL, WithAPIKey("mk_test"), WithHTTPClient(&http.Client{})).Users().BatchRead(ctx, []string{"a"})
		if !errors.As(err, &apiErr) || apiErr.Status != status {
			t.Fatalf("%d: own HTTP client: want an *APIError with the redirect's status, got %v", status, err)
		}
		if got := reached.Load(); got != 0 {
			t.Fatalf("%d: the redirect target got %d requests carrying credentials", status, got)
		}
	}
}

// roundTripFunc is an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recordingHTTP is an HTTP client that records the URLs it is asked for and answers an
// empty batch.
func recordingHTTP(sent *[]string) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		*sent = append(*sent, r.URL.String())
		body := `{"access_token":"tok-1","expires_in":600,"results":[]}`
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	})}
}

func TestClientRefusesPlainHTTPUnlessAskedTo(t *testing.T) {
	ctx := context.Background()
	for _, baseURL := range []string{"http://id.example.com", "http://localhost:8000", "id.example.com", "ftp://id.example.com"} {
		var sent []string
		for _, credential := range []Option{WithToken("tok-9"), WithAPIKey("mk_test"), WithClientCredentials("svc", "s3cret", "")} {
			_, err := NewClient(baseURL, credential, WithHTTPClient(recordingHTTP(&sent))).Users().BatchRead(ctx, []string{"a"})
			if !errors.Is(err, ErrInsecureURL) {
				t.Fatalf("%s: want ErrInsecureURL, got %v", baseURL, err)
			}
		}
		_, err := NewClient(baseURL, WithHTTPClient(recordingHTTP(&sent))).Auth().SignIn(ctx, apitypes.TokenObtainInRequest{Username: "alice", Password: "pw"})
		if !errors.Is(err, ErrInsecureURL) || len(sent) != 0 {
			t.Fatalf("%s: a password or credential was sent over plain http (%v, %v)", baseURL, sent, err)
		}
	}
	for _, baseURL := range []string{"https://id.example.com", "http://127.0.0.1:8000", "http://[::1]:8000"} {
		var sent []string
		if _, err := NewClient(baseURL, WithToken("tok-9"), WithHTTPClient(recordingHTTP(&sent))).Users().BatchRead(ctx, []string{"a"}); err != nil || len(sent) != 1 {
			t.Fatalf("%s: %v %v", baseURL, sent, err)
		}
	}
	var sent []string
	client := NewClient("http://id.internal:8000", WithInsecureHTTP(), WithAPIKey("mk_test"), WithHTTPClient(recordingHTTP(&sent)))
	if _, err := client.Users().BatchRead(ctx, []string{"a"}); err != nil || len(sent) != 2 {
		t.Fatalf("opted in to plain http: %v %v", sent, err)
	}
}
