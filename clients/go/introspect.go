package micro

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	introspectPath         = "/o/introspect/"
	upstreamTokenHint      = "upstream_token"
	defaultIntrospectTTL   = 10 * time.Second
	maxIntrospectionsHeld  = 10_000
	maxIntrospectionAnswer = 64 * 1024
)

// Introspection is the issuer's answer about a token (RFC 7662). Active is false for anything
// not live: revoked, expired, unknown, or the other kind of token.
type Introspection struct {
	Active    bool     `json:"active"`
	TokenType string   `json:"token_type"`
	Scope     string   `json:"scope"`
	Sub       string   `json:"sub"`
	Username  string   `json:"username"`
	Kind      string   `json:"kind"`
	Groups    []string `json:"groups"`
	ClientID  string   `json:"client_id"`
	Exp       int64    `json:"exp"`
	Iat       int64    `json:"iat"`
	Jti       string   `json:"jti"`
}

// IntrospectorConfig configures an Introspector: the issuer and an OAuth client allowed to
// introspect (a service account's client-credentials client).
type IntrospectorConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// TTL is how long an answer is reused (default 10 s): the longest a revocation can go
	// unseen. Never past the token's own exp.
	TTL time.Duration
	// UpstreamHint asks about gateway upstream tokens (token_type_hint=upstream_token);
	// without it the issuer answers inactive for them.
	UpstreamHint bool
	// HTTPClient sends the requests (default: a 5 s timeout); a copy of it is used that never
	// follows redirects.
	HTTPClient *http.Client
	Clock      func() time.Time
}

// Introspector asks the issuer's /o/introspect/ whether a token is still live, for services
// that must see a revocation at once. Answers are cached for a short TTL, keyed by a SHA-256
// of the token (the token itself is never kept). Safe for concurrent use.
type Introspector struct {
	cfg      IntrospectorConfig
	endpoint string
	mu       sync.Mutex
	answers  map[[sha256.Size]byte]cachedIntrospection
}

type cachedIntrospection struct {
	answer  Introspection
	expires time.Time
}

// NewIntrospector checks cfg (an https:// issuer, or http:// to a loopback IP literal) and
// returns an Introspector.
func NewIntrospector(cfg IntrospectorConfig) (*Introspector, error) {
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if err := RequireSecureURL(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, fmt.Errorf("micro: IntrospectorConfig needs a ClientID and a ClientSecret")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = defaultIntrospectTTL
	}
	// The client secret and the token go to the issuer's endpoint only, never to a redirect.
	cfg.HTTPClient = noRedirects(cfg.HTTPClient)
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Introspector{
		cfg:      cfg,
		endpoint: cfg.Issuer + introspectPath,
		answers:  make(map[[sha256.Size]byte]cachedIntrospection),
	}, nil
}

// Introspect is the issuer's answer about token, from the cache while it is fresh.
func (in *Introspector) Introspect(ctx context.Context, token string) (*Introspection, error) {
	digest := sha256.Sum256([]byte(token))
	now := in.cfg.Clock()
	in.mu.Lock()
	cached, ok := in.answers[digest]
	in.mu.Unlock()
	if ok && now.Before(cached.expires) {
		answer := cached.answer
		return &answer, nil
	}
	answer, err := in.ask(ctx, token)
	if err != nil {
		return nil, err
	}
	expires := now.Add(in.cfg.TTL)
	if answer.Active && answer.Exp > 0 && time.Unix(answer.Exp, 0).Before(expires) {
		expires = time.Unix(answer.Exp, 0)
	}
	in.mu.Lock()
	if len(in.answers) >= maxIntrospectionsHeld {
		in.answers = make(map[[sha256.Size]byte]cachedIntrospection) // bounded: start over
	}
	in.answers[digest] = cachedIntrospection{answer: *answer, expires: expires}
	in.mu.Unlock()
	return answer, nil
}

// ErrTokenInactive is the issuer's answer for a token that is not live: revoked, expired,
// unknown, or the other kind of token. Answer it with 401.
var ErrTokenInactive = errors.New("micro: the issuer says the token is not active")

// Active is nil when the issuer says token is live, ErrTokenInactive when it is not.
func (in *Introspector) Active(ctx context.Context, token string) error {
	answer, err := in.Introspect(ctx, token)
	if err != nil {
		return err
	}
	if !answer.Active {
		return ErrTokenInactive
	}
	return nil
}

func (in *Introspector) ask(ctx context.Context, token string) (*Introspection, error) {
	form := url.Values{"token": {token}}
	if in.cfg.UpstreamHint {
		form.Set("token_type_hint", upstreamTokenHint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 2.3.1: the client id and secret are form-encoded before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(in.cfg.ClientSecret))
	resp, err := in.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("micro: introspection: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionAnswer))
	if err != nil {
		return nil, fmt.Errorf("micro: introspection: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("micro: introspection: status %d: %s", resp.StatusCode, body)
	}
	var answer Introspection
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("micro: introspection: %w", err)
	}
	return &answer, nil
}
