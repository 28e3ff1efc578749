package micro

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVerifyValidAccessToken(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	claims := accessClaims(issuer.URL(), clock)
	claims["client_id"] = "app-1"
	claims["groups"] = []string{"0d9d4c1e-5f0a-4b8e-9a61-3c2f1e0d9b8a"}
	token := sign(t, testKey(t, 0), "k1", AccessTokenType, claims, nil)

	principal, err := newTestVerifier(t, issuer, clock).Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if principal.UserID != testUserID || principal.Username != "alice" || principal.Kind != "user" {
		t.Fatalf("identity: %+v", principal)
	}
	if strings.Join(principal.Scopes, " ") != "profile users:read" || principal.TokenID != "jti-1" {
		t.Fatalf("scopes or jti: %+v", principal)
	}
	if principal.ClientID == nil || *principal.ClientID != "app-1" || principal.Audience != "micro" {
		t.Fatalf("client or audience: %+v", principal)
	}
	if len(principal.Groups) != 1 || principal.ViaGateway || principal.IsPersonalSignIn() {
		t.Fatalf("groups, gateway or personal sign-in: %+v", principal)
	}
}

// noneToken is a token with alg none (or another algorithm go-jose would not sign with).
func unsignedToken(header, claims string) string {
	encode := base64.RawURLEncoding.EncodeToString
	return encode([]byte(header)) + "." + encode([]byte(claims)) + "."
}

func TestVerifyRefusesEachRuleWithItsReason(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	key := testKey(t, 0)
	with := func(change func(map[string]any)) map[string]any {
		claims := accessClaims(issuer.URL(), clock)
		change(claims)
		return claims
	}
	valid := sign(t, key, "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)
	parts := strings.Split(valid, ".")
	cases := []struct {
		name   string
		token  string
		reason Reason
	}{
		{"not a JWS", "abc.def", ReasonMalformed},
		{"header not JSON", "bm90LWpzb24." + parts[1] + "." + parts[2], ReasonMalformed},
		{"alg none", unsignedToken(`{"alg":"none","typ":"at+jwt","kid":"k1"}`, `{}`), ReasonAlgorithm},
		{"alg HS256", unsignedToken(`{"alg":"HS256","typ":"at+jwt","kid":"k1"}`, `{}`) + "c2ln", ReasonAlgorithm},
		{"ID token", sign(t, key, "k1", "JWT", accessClaims(issuer.URL(), clock), nil), ReasonType},
		{"no typ", unsignedToken(`{"alg":"RS256","kid":"k1"}`, `{}`), ReasonType},
		{"upstream token", sign(t, key, "k1", UpstreamTokenType, accessClaims(issuer.URL(), clock), nil), ReasonType},
		{"jku", sign(t, key, "k1", AccessTokenType, accessClaims(issuer.URL(), clock), map[string]any{"jku": "https://evil.test/keys"}), ReasonHeader},
		{"crit", sign(t, key, "k1", AccessTokenType, accessClaims(issuer.URL(), clock), map[string]any{"crit": []string{"exp"}}), ReasonHeader},
		{"x5c before an unknown kid", sign(t, key, "nope", AccessTokenType, accessClaims(issuer.URL(), clock), map[string]any{"x5c": []string{"bm90LWEtY2VydA"}}), ReasonHeader},
		{"no kid", unsignedToken(`{"alg":"RS256","typ":"at+jwt"}`, `{}`) + "c2ln", ReasonHeader},
		{"unknown kid", sign(t, key, "k9", AccessTokenType, accessClaims(issuer.URL(), clock), nil), ReasonUnknownKey},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x"}`)) + "." + parts[2], ReasonSignature},
		{"signed by another key", sign(t, testKey(t, 1), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil), ReasonSignature},
		{"upstream token_type in an access token", sign(t, key, "k1", AccessTokenType, with(func(c map[string]any) { c["token_type"] = "upstream" }), nil), ReasonType},
		{"no jti", sign(t, key, "k1", AccessTokenType, with(func(c map[string]any) { delete(c, "jti") }), nil), ReasonMissingClaim},
		{"null sub", sign(t, key, "k1", AccessTokenType, with(func(c map[string]any) { c["sub"] = nil }), nil), ReasonMissingClaim},
		{"iat in the future", sign(t, key, "k1", AccessTokenType, with(func(c map[string]any) { c["iat"] = clock.Unix() + 31 }), nil), ReasonNotYetValid},
		{"nbf in the future", sign(t, key, "k1", AccessTokenType, with(func(c map[string]any) { c["nbf"] = clock.Unix() + 31 }), nil), ReasonNotYetValid},
		{"expired", sign(t, key, "k1", AccessTokenType, with(func(c map[string]any) { c["exp"] = clock.Unix() - 30 }), nil), ReasonExpired},
		{"wrong issuer", sign(t, key, "k1", AccessTokenType, with(func(c map[string]any) { c["iss"] = issuer.URL() + "/" }), nil), ReasonIssuer},
		{"wrong audience", sign(t, key, "k1", AccessTokenType, with(func(c map[string]any) { c["aud"] = "billing" }), nil), ReasonAudience},
		{"audience array without ours", sign(t, key, "k1", AccessTokenType, with(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), nil), ReasonAudience},
	}
	verifier := newTestVerifier(t, issuer, clock)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifier.Verify(context.Background(), tc.token)
			if got := ReasonOf(err); got != tc.reason {
				t.Fatalf("reason %q, want %q (error %v)", got, tc.reason, err)
			}
		})
	}
}

func TestVerifyAcceptsWithinTheLeewayAndAnAudienceArray(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	claims := accessClaims(issuer.URL(), clock)
	claims["exp"], claims["iat"], claims["nbf"] = clock.Unix()-29, clock.Unix()+30, clock.Unix()+30
	claims["aud"] = []string{"billing", testIssuerAudience}
	token := sign(t, testKey(t, 0), "k1", AccessTokenType, claims, nil)
	if _, err := newTestVerifier(t, issuer, clock).Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
}

func TestUpstreamVerifierAcceptsOnlyUpstreamTokens(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	verifier, err := NewUpstreamVerifier(Config{Issuer: issuer.URL(), Audience: testUpstreamAudience, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	claims := accessClaims(issuer.URL(), clock)
	claims["aud"], claims["token_type"], claims["src_amr"] = testUpstreamAudience, "upstream", []string{"pwd"}
	claims["amr"] = []string{"pwd"} // whatever amr says, an upstream token is no sign-in
	principal, err := verifier.Verify(context.Background(), sign(t, testKey(t, 0), "k1", UpstreamTokenType, claims, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !principal.ViaGateway || len(principal.AMR) != 0 || principal.SrcAMR[0] != "pwd" || principal.IsPersonalSignIn() {
		t.Fatalf("upstream principal: %+v", principal)
	}

	delete(claims, "token_type") // typ user+jwt without the signed token_type claim
	if _, err := verifier.Verify(context.Background(), sign(t, testKey(t, 0), "k1", UpstreamTokenType, claims, nil)); ReasonOf(err) != ReasonType {
		t.Fatalf("no token_type: %v", err)
	}
	access := sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)
	if _, err := verifier.Verify(context.Background(), access); ReasonOf(err) != ReasonType {
		t.Fatalf("access token: %v", err)
	}
}

func TestUnknownKidRefetchesAtMostOncePerInterval(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	verifier := newTestVerifier(t, issuer, clock)
	ctx := context.Background()
	for i := range 50 {
		token := sign(t, testKey(t, 0), "made-up-"+string(rune('a'+i%26)), AccessTokenType, accessClaims(issuer.URL(), clock), nil)
		if _, err := verifier.Verify(ctx, token); ReasonOf(err) != ReasonUnknownKey {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	if got := issuer.fetches.Load(); got != 2 { // the first fetch, then one refetch
		t.Fatalf("%d JWKS fetches for a flood of unknown kids, want 2", got)
	}
	clock.Advance(31 * time.Second)
	_, _ = verifier.Verify(ctx, sign(t, testKey(t, 0), "other", AccessTokenType, accessClaims(issuer.URL(), clock), nil))
	if got := issuer.fetches.Load(); got != 3 {
		t.Fatalf("%d JWKS fetches after the interval, want 3", got)
	}
}

func TestRotatedKeyIsPickedUpWithoutRestart(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	verifier := newTestVerifier(t, issuer, clock)
	ctx := context.Background()
	if _, err := verifier.Verify(ctx, sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)); err != nil {
		t.Fatal(err)
	}
	issuer.setKeys(map[string]*rsa.PrivateKey{"k2": testKey(t, 1)}) // k1 rotated out
	if _, err := verifier.Verify(ctx, sign(t, testKey(t, 1), "k2", AccessTokenType, accessClaims(issuer.URL(), clock), nil)); err != nil {
		t.Fatalf("token signed by the new key: %v", err)
	}
	old := sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)
	clock.Advance(DefaultMaxKeyAge) // the periodic refetch drops the rotated-out key
	if _, err := verifier.Verify(ctx, old); ReasonOf(err) != ReasonUnknownKey {
		t.Fatalf("token signed by the rotated-out key: %v", err)
	}
}

func TestKeysUnavailableWhenNothingIsCached(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	issuer.failing.Store(true)
	clock := newTestClock()
	token := sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)
	_, err := newTestVerifier(t, issuer, clock).Verify(context.Background(), token)
	if !errors.Is(err, ErrKeysUnavailable) || ReasonOf(err) != "" {
		t.Fatalf("want ErrKeysUnavailable, got %v", err)
	}
}

func TestADiscoveryDocumentOfAnotherIssuerIsRefused(t *testing.T) {
	for _, named := range []string{"https://evil.example", "", "x"} {
		issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
		issuer.documentIssuer.Store(&named)
		clock := newTestClock()
		token := sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)
		_, err := newTestVerifier(t, issuer, clock).Verify(context.Background(), token)
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("document naming %q: want ErrKeysUnavailable, got %v", named, err)
		}
		if got := issuer.fetches.Load(); got != 0 {
			t.Fatalf("document naming %q: the JWKS was fetched %d times", named, got)
		}
	}
}

func TestCachedKeysOutliveAShortIssuerOutage(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	verifier := newTestVerifier(t, issuer, clock)
	ctx := context.Background()
	token := func() string {
		return sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)
	}
	if _, err := verifier.Verify(ctx, token()); err != nil {
		t.Fatal(err)
	}
	issuer.failing.Store(true)
	clock.Advance(DefaultMaxKeyAge + time.Minute)
	if _, err := verifier.Verify(ctx, token()); err != nil {
		t.Fatalf("during a short outage: %v", err)
	}
	clock.Advance(DefaultMaxStale)
	if _, err := verifier.Verify(ctx, token()); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("keys too old: %v", err)
	}
}

func TestConcurrentVerificationSharesOneFetch(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0), "k2": testKey(t, 1)})
	issuer.jwksDelay = 50 * time.Millisecond
	clock := newTestClock()
	verifier := newTestVerifier(t, issuer, clock)
	tokens := []string{
		sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil),
		sign(t, testKey(t, 1), "k2", AccessTokenType, accessClaims(issuer.URL(), clock), nil),
		sign(t, testKey(t, 1), "k3", AccessTokenType, accessClaims(issuer.URL(), clock), nil),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := verifier.Verify(context.Background(), tokens[i%3])
			if (i%3 == 2) != (ReasonOf(err) == ReasonUnknownKey) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := issuer.fetches.Load(); got > 2 {
		t.Fatalf("%d JWKS fetches for concurrent requests, want at most 2", got)
	}
}

func TestConfigIsCheckedAtConstruction(t *testing.T) {
	for name, cfg := range map[string]Config{
		"plain http to a host name":  {Issuer: "http://localhost:8000", Audience: "micro"},
		"plain http JWKS URL":        {Issuer: "https://id.test", Audience: "micro", JWKSURL: "http://id.test/jwks"},
		"no audience":                {Issuer: "https://id.test"},
		"leeway beyond five minutes": {Issuer: "https://id.test", Audience: "micro", Leeway: 301 * time.Second},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewVerifier(Config{Issuer: "http://127.0.0.1:8000/", Audience: "micro"}); err != nil {
		t.Errorf("loopback literal: %v", err)
	}
}

func TestScopeRules(t *testing.T) {
	admin := &Principal{Scopes: []string{"api_admin"}}
	if !admin.HasScope("users:write") || admin.HasScope("billing:read") || !admin.HasScope("api_admin") {
		t.Fatal("api_admin implies exactly the built-in scopes")
	}
	user := &Principal{Scopes: []string{"billing:read", "profile"}}
	if err := user.RequireScopes("billing:read", "profile"); err != nil {
		t.Fatal(err)
	}
	var scopeErr *ScopeError
	if err := user.RequireScopes("billing:read", "users:read"); !errors.As(err, &scopeErr) || scopeErr.Missing[0] != "users:read" {
		t.Fatalf("missing scope: %v", err)
	}
	var nobody *Principal
	if nobody.HasScope("profile") {
		t.Fatal("a nil principal holds no scope")
	}
}

func TestACallerGivingUpDuringAFetchDoesNotCostTheKeys(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	issuer.jwksDelay = 100 * time.Millisecond
	clock := newTestClock()
	verifier := newTestVerifier(t, issuer, clock)
	token := sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil)
	impatient, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, _ = verifier.Verify(impatient, token) // its client went away while the keys were fetched
	if _, err := verifier.Verify(context.Background(), token); err != nil {
		t.Fatalf("the next request, within the refetch interval: %v", err)
	}
}

func TestAKeyFetchIsBoundedInTime(t *testing.T) {
	defer func(saved time.Duration) { keyFetchTimeout = saved }(keyFetchTimeout)
	keyFetchTimeout = 50 * time.Millisecond
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	issuer.jwksDelay = time.Second
	clock := newTestClock()
	verifier, err := NewVerifier(Config{
		Issuer: issuer.URL(), Audience: testIssuerAudience, Clock: clock.Now,
		HTTPClient: &http.Client{}, // no timeout of its own
	})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	_, err = verifier.Verify(context.Background(), sign(t, testKey(t, 0), "k1", AccessTokenType, accessClaims(issuer.URL(), clock), nil))
	if !errors.Is(err, ErrKeysUnavailable) || time.Since(started) > 500*time.Millisecond {
		t.Fatalf("after %s: %v", time.Since(started), err)
	}
}

func TestTheTokenTypeClaimIsJudgedAfterTheOtherClaimsAsInEverySDK(t *testing.T) {
	issuer := newFakeIssuer(t, map[string]*rsa.PrivateKey{"k1": testKey(t, 0)})
	clock := newTestClock()
	verifier, err := NewUpstreamVerifier(Config{Issuer: issuer.URL(), Audience: testUpstreamAudience, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	claims := accessClaims(issuer.URL(), clock) // token_type access: the wrong kind, and expired
	claims["aud"], claims["exp"] = testUpstreamAudience, clock.Unix()-31
	token := sign(t, testKey(t, 0), "k1", UpstreamTokenType, claims, nil)
	if _, err := verifier.Verify(context.Background(), token); ReasonOf(err) != ReasonExpired {
		t.Fatalf("want expired (the Python and TypeScript verdict), got %v", err)
	}
	delete(claims, "jti")
	if _, err := verifier.Verify(context.Background(), sign(t, testKey(t, 0), "k1", UpstreamTokenType, claims, nil)); ReasonOf(err) != ReasonMissingClaim {
		t.Fatalf("want missing_claim, got %v", err)
	}
}

func TestIsPersonalSignInCountsAPasswordAPasskeyOrAFederatedSignIn(t *testing.T) {
	app, cli := "app-1", CLIClientID
	cases := []struct {
		amr      []string
		client   *string
		gateway  bool
		personal bool
	}{
		{[]string{"pwd"}, nil, false, true},
		{[]string{"fed"}, nil, false, true},
		{[]string{"fed", "hwk"}, &cli, false, true},
		{[]string{"hwk", "user"}, nil, false, true},
		{[]string{"swk", "user"}, &cli, false, true},
		{[]string{"hwk", "user"}, &app, false, false},
		{[]string{"swk"}, nil, true, false},
		{[]string{"otp", "user", "mfa"}, nil, false, false},
		{[]string{"fed"}, &app, false, false},
		{[]string{"api_key"}, nil, false, false},
		{nil, nil, false, false},
		{[]string{"fed"}, nil, true, false},
	}
	for _, c := range cases {
		p := &Principal{AMR: c.amr, ClientID: c.client, ViaGateway: c.gateway}
		if p.IsPersonalSignIn() != c.personal {
			t.Errorf("amr %v client %v gateway %v: want %v", c.amr, c.client, c.gateway, c.personal)
		}
	}
}
