package micro

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// serve runs one request through Middleware(v) and RequireScopes(scopes) around a handler
// that writes the principal's user id.
func serve(t *testing.T, v *Verifier, header, value string, scopes ...string) *httptest.ResponseRecorder {
	t.Helper()
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		principal, ok := PrincipalFrom(r.Context())
		if !ok {
			t.Fatal("no principal in the context")
		}
		_, _ = w.Write([]byte(principal.UserID))
	})
	if len(scopes) > 0 {
		handler = RequireScopes(scopes...)(handler)
	}
	request := httptest.NewRequest(http.MethodGet, "/things", nil)
	if header != "" {
		request.Header.Set(header, value)
	}
	recorder := httptest.NewRecorder()
	Middleware(v)(handler).ServeHTTP(recorder, request)
	return recorder
}

func assertProblem(t *testing.T, recorder *httptest.ResponseRecorder, status int, code, wwwAuthenticate string) {
	t.Helper()
	if recorder.Code != status || recorder.Header().Get("Content-Type") != ProblemContentType {
		t.Fatalf("status %d %q, want %d problem+json", recorder.Code, recorder.Header().Get("Content-Type"), status)
	}
	var body map[string]any
	if err := json.Unmarshal(recorder.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body["code"] != code || body["status"] != float64(status) || body["type"] != "urn:micro:problem:"+code {
		t.Fatalf("problem body %v, want code %s", body, code)
	}
	if got := recorder.Header().Get("WWW-Authenticate"); got != wwwAuthenticate {
		t.Fatalf("WWW-Authenticate %q, want %q", got, wwwAuthenticate)
	}
}

func TestMiddlewarePutsThePrincipalInTheContext(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	token := sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)
	recorder := serve(t, newTestVerifier(t, issuer, clock), "Authorization", "Bearer "+token, "users:read")
	if recorder.Code != http.StatusOK || recorder.Body.String() != testUserID {
		t.Fatalf("%d %s", recorder.Code, recorder.Body)
	}
}

func TestMiddlewareAnswersProblems(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	verifier := newTestVerifier(t, issuer, clock)
	token := sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)

	assertProblem(t, serve(t, verifier, "", ""), 401, "not_authenticated", `Bearer realm="api"`)
	assertProblem(t, serve(t, verifier, "Authorization", "Basic dTpw"), 401, "not_authenticated", `Bearer realm="api"`)
	assertProblem(t, serve(t, verifier, "Authorization", "Bearer "+token+"x"), 401, "invalid_token",
		`Bearer realm="api", error="invalid_token"`)
	assertProblem(t, serve(t, verifier, "Authorization", "Bearer "+token, "billing:read", "profile"), 403,
		"insufficient_scope", `Bearer realm="api", error="insufficient_scope", scope="billing:read profile"`)

	clock.Advance(time.Hour)
	assertProblem(t, serve(t, verifier, "Authorization", "Bearer "+token), 401, "invalid_token",
		`Bearer realm="api", error="invalid_token"`)
}

func TestMiddlewareAnswers503WithoutKeys(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	issuer.failing.Store(true)
	clock := newTestClock()
	token := sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)
	recorder := serve(t, newTestVerifier(t, issuer, clock), "Authorization", "Bearer "+token)
	assertProblem(t, recorder, 503, "signing_keys_unavailable", "")
}

func TestUpstreamMiddlewareReadsOnlyTheGatewayHeader(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	verifier, err := NewUpstreamVerifier(Config{Issuer: issuer.URL(), Audience: testUpstreamAudience, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	claims := accessClaims(issuer.URL(), clock)
	claims["aud"], claims["token_type"] = testUpstreamAudience, "upstream"
	upstream := sign(t, testKey(t, 0), "k1", UpstreamTokenType, claims, nil)
	if recorder := serve(t, verifier, UpstreamTokenHeader, upstream); recorder.Code != http.StatusOK {
		t.Fatalf("upstream token: %d %s", recorder.Code, recorder.Body)
	}
	assertProblem(t, serve(t, verifier, "Authorization", "Bearer "+upstream), 401, "not_authenticated", `Gateway realm="api"`)
}

func TestRequireScopesWithoutMiddlewareIs401(t *testing.T) {
	recorder := httptest.NewRecorder()
	handler := RequireScopes("profile")(http.NotFoundHandler())
	handler.ServeHTTP(recorder, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(context.Background()))
	assertProblem(t, recorder, 401, "not_authenticated", `Bearer realm="api"`)
}
