package micro

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// CredentialSource gives the bearer token of a request. Implementations are safe for
// concurrent use.
type CredentialSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a fixed access token.
type StaticToken string

// Token is the token itself.
func (s StaticToken) Token(context.Context) (string, error) { return string(s), nil }

// refreshMargin is how long before its expiry a token is replaced: a fifth of its lifetime,
// at most a minute, so a request never leaves with a token about to expire on the way.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(lifetime/5, time.Minute)
}

// cachedToken holds one short-lived token and gets the next one, one caller at a time.
type cachedToken struct {
	mu      sync.Mutex
	token   string
	renewAt time.Time
	now     func() time.Time
}

func (t *cachedToken) get(ctx context.Context, fetch func(context.Context) (string, time.Duration, error)) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now
	if t.now != nil {
		now = t.now
	}
	if t.token != "" && now().Before(t.renewAt) {
		return t.token, nil
	}
	token, lifetime, err := fetch(ctx)
	if err != nil {
		return "", err
	}
	t.token, t.renewAt = token, now().Add(lifetime-refreshMargin(lifetime))
	return token, nil
}

func (t *cachedToken) invalidate() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.token = ""
}

// APIKeySource exchanges an API key at POST /api/v1/auth/token/exchange for a short-lived
// access token, and exchanges again shortly before the token expires. Resource, when set,
// asks for a token for that registered service.
type APIKeySource struct {
	Key      string
	Resource string
	client   *Client
	cache    cachedToken
}

// Token is a live access token exchanged from the key.
func (s *APIKeySource) Token(ctx context.Context) (string, error) {
	return s.cache.get(ctx, func(ctx context.Context) (string, time.Duration, error) {
		body := map[string]string{}
		if s.Resource != "" {
			body["resource"] = s.Resource
		}
		var out struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		err := s.client.do(ctx, request{
			method: http.MethodPost, path: "/api/v1/auth/token/exchange", body: body, bearer: s.Key,
		}, &out)
		return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, err
	})
}

// Invalidate drops the token held, so the next request exchanges the key again.
func (s *APIKeySource) Invalidate() { s.cache.invalidate() }

// ClientCredentialsSource gets access tokens with the OAuth client-credentials grant at
// POST /o/token/, and again shortly before each expires.
type ClientCredentialsSource struct {
	ClientID     string
	ClientSecret string
	Scope        string
	client       *Client
	cache        cachedToken
}

// Token is a live access token of the client.
func (s *ClientCredentialsSource) Token(ctx context.Context) (string, error) {
	return s.cache.get(ctx, func(ctx context.Context) (string, time.Duration, error) {
		form := url.Values{"grant_type": {"client_credentials"}}
		if s.Scope != "" {
			form.Set("scope", s.Scope)
		}
		var out struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		err := s.client.do(ctx, request{
			method: http.MethodPost, path: "/o/token/", form: form,
			basicAuth: [2]string{s.ClientID, s.ClientSecret},
		}, &out)
		return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, err
	})
}

// Invalidate drops the token held, so the next request asks for a new one.
func (s *ClientCredentialsSource) Invalidate() { s.cache.invalidate() }
