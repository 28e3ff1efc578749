// Package micro verifies Micro access tokens and the gateway's upstream token offline, guards
// net/http handlers with them, and calls the Micro API.
//
// Verification follows RFC 8725 and RFC 9068, the same rules as every Micro SDK: the header
// first, before any key lookup (alg RS256 only; typ at+jwt, or user+jwt for the upstream
// token; no jku, jwk, x5u, x5c or crit; a kid), then the key named by kid from the issuer's
// JWKS (cached, with a rate-limited refetch on an unknown kid), the RS256 signature, and the
// claims: iss exactly, aud containing the one configured audience, exp, nbf and iat with a
// bounded leeway, and iss sub aud exp iat jti present.
//
// Offline verification cannot see revocations: a revoked token verifies until it expires.
// Keep tokens short and use an Introspector where immediate revocation matters.
package micro

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The token kinds a verifier accepts, and the defaults of a Config.
const (
	AccessTokenType   = "at+jwt"   // the JOSE typ of an access token
	UpstreamTokenType = "user+jwt" // the JOSE typ of the gateway's upstream token (X-User-Token)
	// upstreamTokenClaim is the signed token_type claim of an upstream token.
	upstreamTokenClaim = "upstream"

	DefaultLeeway             = 30 * time.Second
	MaxLeeway                 = 300 * time.Second
	DefaultMinRefetchInterval = 30 * time.Second
	DefaultMaxKeyAge          = 5 * time.Minute
	DefaultMaxStale           = time.Hour
	maxTokenBytes             = 8192
	maxKidLength              = 64
)

// headersNamingKeys are the header members that point at key material or demand extensions;
// keys come only from the issuer's JWKS.
var headersNamingKeys = []string{"jku", "jwk", "x5u", "x5c", "crit"}

// Config configures a Verifier. Issuer and Audience are required; the rest have defaults.
type Config struct {
	// Issuer is the Micro service's MICRO_ISSUER, compared exactly with iss (a trailing slash
	// is dropped). Its discovery document names the JWKS unless JWKSURL is set.
	Issuer string
	// Audience is this service's audience: MICRO_TOKEN_AUDIENCE (or a registered service's
	// own) for access tokens, MICRO_UPSTREAM_TOKEN_AUDIENCE for upstream tokens.
	Audience string
	// Leeway for exp, nbf and iat against clock skew: 0 means DefaultLeeway, at most MaxLeeway.
	Leeway time.Duration
	// HTTPClient fetches the discovery document and the JWKS (redirects are never followed).
	HTTPClient *http.Client
	// Clock is the current time (time.Now by default); tests set it.
	Clock func() time.Time
	// MinRefetchInterval bounds the refetches an unknown kid triggers: at most one per
	// interval (default 30 s).
	MinRefetchInterval time.Duration
	// MaxKeyAge is how long fetched keys are used before a periodic refetch (default 5 min).
	MaxKeyAge time.Duration
	// MaxStale is how long past MaxKeyAge the keys held keep working while the issuer cannot
	// be reached (default 1 h); after that ErrKeysUnavailable.
	MaxStale time.Duration
	// JWKSURL overrides the discovery document's jwks_uri.
	JWKSURL string
	// FetchJWKS, when set, replaces the HTTP fetch of the discovery document and the JWKS: it
	// returns the JWKS document itself (tests, or keys reached another way). The cache, its
	// rate limit and the key filtering apply as they do to fetched keys.
	FetchJWKS func(ctx context.Context) ([]byte, error)
}

// Verifier verifies one kind of token: access tokens (NewVerifier) or the gateway's upstream
// tokens (NewUpstreamVerifier), never both. It is safe for concurrent use; make one per
// process and keep it, so its key cache is shared.
type Verifier struct {
	issuer     string
	audience   string
	leeway     float64 // seconds
	now        func() time.Time
	tokenType  string
	viaGateway bool
	keys       *keyCache
}

// NewVerifier is a verifier of Micro access tokens (typ at+jwt): upstream tokens are refused.
func NewVerifier(cfg Config) (*Verifier, error) {
	return newVerifier(cfg, AccessTokenType)
}

// NewUpstreamVerifier is a verifier of the gateway's upstream token (X-User-Token, typ
// user+jwt, signed token_type upstream) for a service behind the gateway: access tokens are
// refused, and its principals are never a person's own sign-in.
func NewUpstreamVerifier(cfg Config) (*Verifier, error) {
	return newVerifier(cfg, UpstreamTokenType)
}

func newVerifier(cfg Config, tokenType string) (*Verifier, error) {
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("micro: Config needs an Issuer and an Audience")
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("micro: Leeway must be between 0 and %s", MaxLeeway)
	}
	keysURL := cfg.JWKSURL
	if keysURL == "" {
		keysURL = cfg.Issuer
	}
	if err := RequireSecureURL(keysURL); err != nil {
		return nil, err
	}
	setDefaults(&cfg)
	return &Verifier{
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		leeway:     cfg.Leeway.Seconds(),
		now:        cfg.Clock,
		tokenType:  tokenType,
		viaGateway: tokenType == UpstreamTokenType,
		keys:       newKeyCache(&cfg),
	}, nil
}

func setDefaults(cfg *Config) {
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MinRefetchInterval <= 0 {
		cfg.MinRefetchInterval = DefaultMinRefetchInterval
	}
	if cfg.MaxKeyAge <= 0 {
		cfg.MaxKeyAge = DefaultMaxKeyAge
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
}

// Verify is the verified caller of token. A refused token gives a *TokenError (answer 401);
// an error wrapping ErrKeysUnavailable means the token could not be judged (answer 503).
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	kid, err := v.checkHeader(token)
	if err != nil {
		return nil, err
	}
	key, err := v.keys.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, refuse(ReasonMalformed, "%v", err)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, refuse(ReasonSignature, "the signature does not verify")
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, refuse(ReasonMalformed, "claims: %v", err)
	}
	if err := v.checkClaims(&c); err != nil {
		return nil, err
	}
	return v.principal(&c), nil
}

// checkHeader judges the JOSE header before any key lookup, and returns its kid.
func (v *Verifier) checkHeader(token string) (string, error) {
	if len(token) > maxTokenBytes || strings.Count(token, ".") != 2 {
		return "", refuse(ReasonMalformed, "not a compact JWS")
	}
	segment, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return "", refuse(ReasonMalformed, "header: %v", err)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw, &header); err != nil || header == nil {
		return "", refuse(ReasonMalformed, "header is not a JSON object")
	}
	if headerString(header, "alg") != string(jose.RS256) {
		return "", refuse(ReasonAlgorithm, "alg must be RS256")
	}
	if headerString(header, "typ") != v.tokenType {
		return "", refuse(ReasonType, "typ must be %s", v.tokenType)
	}
	for _, name := range headersNamingKeys {
		if _, present := header[name]; present {
			return "", refuse(ReasonHeader, "the header carries %s", name)
		}
	}
	kid := headerString(header, "kid")
	if kid == "" || len(kid) > maxKidLength {
		return "", refuse(ReasonHeader, "no usable kid")
	}
	return kid, nil
}

// headerString is the header member name when it is a JSON string, "" otherwise.
func headerString(header map[string]json.RawMessage, name string) string {
	var value string
	if raw, ok := header[name]; !ok || json.Unmarshal(raw, &value) != nil {
		return ""
	}
	return value
}

// tokenClaims are the claims read from a verified payload; a null claim counts as absent.
type tokenClaims struct {
	Iss       *string         `json:"iss"`
	Sub       *string         `json:"sub"`
	Aud       json.RawMessage `json:"aud"`
	Exp       *float64        `json:"exp"`
	Iat       *float64        `json:"iat"`
	Nbf       *float64        `json:"nbf"`
	Jti       *string         `json:"jti"`
	Scope     *string         `json:"scope"`
	Username  *string         `json:"username"`
	Kind      *string         `json:"kind"`
	Groups    []string        `json:"groups"`
	AMR       []string        `json:"amr"`
	SrcAMR    []string        `json:"src_amr"`
	ClientID  *string         `json:"client_id"`
	TokenType *string         `json:"token_type"`
}

// checkClaims applies the claim rules in the order every SDK does: required claims, then
// iat, nbf, exp, iss, aud and the token_type claim.
func (v *Verifier) checkClaims(c *tokenClaims) error {
	audNull := len(c.Aud) == 0 || bytes.Equal(c.Aud, []byte("null"))
	if c.Iss == nil || c.Sub == nil || audNull || c.Exp == nil || c.Iat == nil || c.Jti == nil {
		return refuse(ReasonMissingClaim, "iss sub aud exp iat jti are required")
	}
	now := float64(v.now().UnixNano()) / 1e9
	if math.Floor(*c.Iat) > now+v.leeway || (c.Nbf != nil && math.Floor(*c.Nbf) > now+v.leeway) {
		return refuse(ReasonNotYetValid, "iat or nbf is in the future")
	}
	if math.Floor(*c.Exp) <= now-v.leeway {
		return refuse(ReasonExpired, "exp is past")
	}
	if *c.Iss != v.issuer {
		return refuse(ReasonIssuer, "iss is not %s", v.issuer)
	}
	if !audienceContains(c.Aud, v.audience) {
		return refuse(ReasonAudience, "aud does not name %s", v.audience)
	}
	// The signed token_type says upstream exactly for an upstream token: a second guard, after
	// typ, that the two kinds are never confused.
	if upstream := c.TokenType != nil && *c.TokenType == upstreamTokenClaim; upstream != v.viaGateway {
		return refuse(ReasonType, "the token_type claim does not match %s", v.tokenType)
	}
	if c.Kind != nil && *c.Kind != "user" && *c.Kind != "service" {
		return refuse(ReasonMalformed, "kind must be user or service")
	}
	// Users and groups are named by UUID: a token naming them otherwise is none of Micro's.
	if !isUUID(*c.Sub) {
		return refuse(ReasonMalformed, "sub is not a UUID")
	}
	for _, group := range c.Groups {
		if !isUUID(group) {
			return refuse(ReasonMalformed, "a group id is not a UUID")
		}
	}
	return nil
}

// isUUID reports whether s is a UUID in its canonical text form (8-4-4-4-12 hex digits), the
// form Micro writes in sub and groups.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// audienceContains reports whether aud (a string, or an array of strings) names audience.
func audienceContains(aud json.RawMessage, audience string) bool {
	var one string
	if json.Unmarshal(aud, &one) == nil {
		return one == audience
	}
	var many []string
	return json.Unmarshal(aud, &many) == nil && slices.Contains(many, audience)
}

func (v *Verifier) principal(c *tokenClaims) *Principal {
	p := &Principal{
		UserID:     *c.Sub,
		Username:   deref(c.Username),
		Kind:       "user",
		Scopes:     strings.Fields(deref(c.Scope)),
		Groups:     nonNil(c.Groups),
		AMR:        nonNil(c.AMR),
		TokenID:    *c.Jti,
		Audience:   v.audience,
		ExpiresAt:  int64(*c.Exp),
		ViaGateway: v.viaGateway,
		SrcAMR:     []string{},
	}
	if c.Kind != nil {
		p.Kind = *c.Kind
	}
	if c.ClientID != nil && *c.ClientID != "" {
		p.ClientID = c.ClientID
	}
	if v.viaGateway {
		// The gateway vouches for a request, not for a sign-in: the methods it saw are
		// information only. A token signed before src_amr existed carried them in amr.
		p.SrcAMR, p.AMR = p.AMR, []string{}
		if c.SrcAMR != nil {
			p.SrcAMR = c.SrcAMR
		}
	}
	return p
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
