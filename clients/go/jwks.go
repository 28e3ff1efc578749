package micro

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	maxDocumentBytes = 256 * 1024
	minRSABits       = 2048
	discoveryPath    = "/.well-known/openid-configuration"
)

// ErrInsecureURL is the error (wrapped) for a URL keys may not be fetched from nor credentials
// sent to: anything but https://, or plain http:// to a loopback IP literal. The verifier and
// Introspector constructors return it; a Client made with such a base URL returns it from
// every call.
var ErrInsecureURL = errors.New("micro: the URL must be https:// (plain http:// only to 127.0.0.1 or [::1])")

// RequireSecureURL is nil when keys may be fetched from rawURL: https://, or http:// to a
// loopback IP literal. Over plain http on a network anyone on the path could serve their own
// keys and so sign any token; a host name is refused even when it is localhost, since what it
// resolves to is up to /etc/hosts and DNS.
func RequireSecureURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err == nil && u.Scheme == "https" && u.Hostname() != "" {
		return nil
	}
	if err == nil && u.Scheme == "http" {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrInsecureURL, rawURL)
}

// keyFetchTimeout bounds one fetch of the discovery document and the JWKS.
var keyFetchTimeout = 10 * time.Second

// keySet is one fetched JWKS: immutable once published, so readers take no lock.
type keySet struct {
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time
}

// keyCache holds the issuer's public keys. Fetches run one at a time (a semaphore of one);
// fetches other than the periodic one (an unknown kid) run at most once per minRefetch, so a
// flood of made-up kids costs the issuer one request per interval. Failed attempts count too.
// When a fetch fails, the keys held keep working for maxStale past maxAge.
type keyCache struct {
	issuer     string
	jwksURL    atomic.Pointer[string] // from the config, or the discovery document once read
	client     *http.Client
	fetchJWKS  func(ctx context.Context) ([]byte, error)
	now        func() time.Time
	maxAge     time.Duration
	minRefetch time.Duration
	maxStale   time.Duration

	held atomic.Pointer[keySet]
	sem  chan struct{} // one fetch at a time; guards the fields below
	// lastAttempt and lastForced rate-limit the periodic and the unknown-kid fetches.
	lastAttempt, lastForced time.Time
	fetches                 atomic.Int64
}

func newKeyCache(cfg *Config) *keyCache {
	c := &keyCache{
		issuer:     cfg.Issuer,
		client:     noRedirects(cfg.HTTPClient),
		fetchJWKS:  cfg.FetchJWKS,
		now:        cfg.Clock,
		maxAge:     cfg.MaxKeyAge,
		minRefetch: cfg.MinRefetchInterval,
		maxStale:   cfg.MaxStale,
		sem:        make(chan struct{}, 1),
	}
	if cfg.JWKSURL != "" {
		c.jwksURL.Store(&cfg.JWKSURL)
	}
	return c
}

// noRedirects is a copy of client (or of a client with a 5 s timeout, when nil) that does not
// follow redirects: keys come from the configured URL only, and credentials go nowhere else.
func noRedirects(client *http.Client) *http.Client {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	copied := *client
	copied.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &copied
}

// key is the public key named kid; a *TokenError (unknown_key) when the issuer does not
// publish it, ErrKeysUnavailable when no usable keys can be had.
func (c *keyCache) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	held := c.held.Load()
	set := held
	if set == nil || c.now().Sub(set.fetchedAt) >= c.maxAge {
		// With the key in hand, do not queue behind a fetch under way (a slow issuer would
		// stall every request for its timeout): use the key meanwhile.
		known := set != nil && set.keys[kid] != nil
		var err error
		if set, err = c.refresh(ctx, false, !known); err != nil {
			return nil, err
		}
	}
	key := set.keys[kid]
	if key == nil && set == held { // keys fetched just now need no second fetch
		fresh, err := c.refresh(ctx, true, true)
		if err != nil {
			return nil, err
		}
		key = fresh.keys[kid]
	}
	if key == nil {
		return nil, refuse(ReasonUnknownKey, "kid %q is not in the issuer's JWKS", kid)
	}
	return key, nil
}

// refresh fetches the JWKS unless the rate limit says no, and returns the keys to use now.
// Without wait, a fetch under way in another goroutine means: use the keys held.
func (c *keyCache) refresh(ctx context.Context, forced, wait bool) (*keySet, error) {
	if wait {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return c.usable(c.held.Load(), c.now())
		}
	} else {
		select {
		case c.sem <- struct{}{}:
		default:
			return c.usable(c.held.Load(), c.now())
		}
	}
	defer func() { <-c.sem }()
	now := c.now()
	held := c.held.Load()
	if !forced && held != nil && now.Sub(held.fetchedAt) < c.maxAge {
		return held, nil // another goroutine fetched while this one waited
	}
	last := c.lastAttempt
	if forced {
		last = c.lastForced
	}
	if !last.IsZero() && now.Sub(last) < c.minRefetch {
		return c.usable(held, now)
	}
	c.lastAttempt = now
	if forced {
		c.lastForced = now
	}
	c.fetches.Add(1)
	// The fetch serves every caller and counts against the rate limit: it does not end when
	// the caller that started it gives up, but it is bounded in time whatever the HTTP client.
	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyFetchTimeout)
	defer cancel()
	keys, err := c.fetch(fetchCtx)
	if err != nil {
		return c.usable(held, now)
	}
	set := &keySet{keys: keys, fetchedAt: now}
	c.held.Store(set)
	return set, nil
}

// usable is the keys held while they are not older than maxAge + maxStale.
func (c *keyCache) usable(held *keySet, now time.Time) (*keySet, error) {
	if held == nil {
		return nil, fmt.Errorf("%w: no keys fetched from the issuer %s", ErrKeysUnavailable, c.issuer)
	}
	if now.Sub(held.fetchedAt) >= c.maxAge+c.maxStale {
		return nil, fmt.Errorf("%w: the keys held are too old to trust", ErrKeysUnavailable)
	}
	return held, nil
}

func (c *keyCache) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	var document struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if c.fetchJWKS != nil {
		body, err := c.fetchJWKS(ctx)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, &document); err != nil {
			return nil, err
		}
	} else {
		jwksURL, err := c.resolveJWKSURL(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.getJSON(ctx, jwksURL, &document); err != nil {
			return nil, err
		}
	}
	if document.Keys == nil {
		return nil, errors.New("the JWKS has no keys list")
	}
	return publicKeys(document.Keys), nil
}

// resolveJWKSURL is the configured JWKS URL, or the jwks_uri of the issuer's discovery
// document (read once, then kept).
func (c *keyCache) resolveJWKSURL(ctx context.Context) (string, error) {
	if known := c.jwksURL.Load(); known != nil {
		return *known, nil
	}
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := c.getJSON(ctx, c.issuer+discoveryPath, &discovery); err != nil {
		return "", err
	}
	// The document must be this issuer's own (OpenID Connect Discovery 1.0, section 4.3): a
	// document naming another issuer, or none, points at keys this verifier must not trust.
	if strings.TrimRight(discovery.Issuer, "/") != c.issuer {
		return "", fmt.Errorf("the discovery document names the issuer %q, not %s", discovery.Issuer, c.issuer)
	}
	if err := RequireSecureURL(discovery.JWKSURI); err != nil {
		return "", err
	}
	c.jwksURL.Store(&discovery.JWKSURI)
	return discovery.JWKSURI, nil
}

func (c *keyCache) getJSON(ctx context.Context, rawURL string, into any) error {
	if err := RequireSecureURL(rawURL); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", rawURL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return err
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("GET %s: more than %d bytes", rawURL, maxDocumentBytes)
	}
	return json.Unmarshal(body, into)
}

// publicKeys are the RS256 signing keys of a JWKS by kid; other keys and malformed entries
// are skipped, and only the public half of a key is ever kept.
func publicKeys(entries []json.RawMessage) map[string]*rsa.PublicKey {
	keys := make(map[string]*rsa.PublicKey, len(entries))
	for _, entry := range entries {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(entry); err != nil || jwk.KeyID == "" {
			continue
		}
		if (jwk.Use != "" && jwk.Use != "sig") || (jwk.Algorithm != "" && jwk.Algorithm != string(jose.RS256)) {
			continue
		}
		var public *rsa.PublicKey
		switch key := jwk.Key.(type) {
		case *rsa.PublicKey:
			public = key
		case *rsa.PrivateKey:
			public = &key.PublicKey
		}
		if public != nil && public.N.BitLen() >= minRSABits {
			keys[jwk.KeyID] = public
		}
	}
	return keys
}
