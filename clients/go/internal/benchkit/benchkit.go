// Package benchkit sets up the verifier benchmark (P9): one access token, verified by the SDK's
// Verifier (JWKS cached) and by a bare go-jose parse + verify + claims decode with the key in
// hand, so the two costs compare on the same token.
package benchkit

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	micro "github.com/micro-user-service/micro/clients/go"
)

const (
	issuer   = "https://issuer.bench"
	audience = "micro"
	kid      = "bench-key"
)

// Fixture is a token, the SDK's verifier of it, and the key a bare verification uses.
type Fixture struct {
	Token    string
	Verifier *micro.Verifier
	Key      *rsa.PublicKey
	Now      time.Time
}

// extraClaims are the Micro claims a bare decode reads besides the registered ones, as the
// SDK does.
type extraClaims struct {
	Scope    string   `json:"scope"`
	Username string   `json:"username"`
	Kind     string   `json:"kind"`
	Groups   []string `json:"groups"`
	AMR      []string `json:"amr"`
}

// New signs a token with a fresh 2048-bit key and makes a verifier whose JWKS is already
// cached (the first verification fetches it from memory).
func New() (*Fixture, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Unix(1_900_000_000, 0)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, err
	}
	claims := map[string]any{
		"iss": issuer, "aud": audience, "sub": "036537bf-aaa3-5fcf-a96d-87017e476505",
		"exp": now.Unix() + 600, "iat": now.Unix(), "jti": "7d9307e15b5654668d8a4c75a1523311",
		"scope": "profile users:read objects:read objects:write", "username": "alice", "kind": "user",
		"groups": []string{"c41acf31-a01c-512b-afde-ed76439800a1"}, "amr": []string{"pwd"},
		"token_type": "access",
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return nil, err
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		return nil, err
	}
	verifier, err := micro.NewVerifier(micro.Config{
		Issuer: issuer, Audience: audience, Clock: func() time.Time { return now },
		FetchJWKS: func(context.Context) ([]byte, error) { return jwks, nil },
	})
	if err != nil {
		return nil, err
	}
	fixture := &Fixture{Token: token, Verifier: verifier, Key: &key.PublicKey, Now: now}
	if err := fixture.SDK(); err != nil { // fills the key cache
		return nil, err
	}
	return fixture, fixture.Bare()
}

// SDK verifies the token with the SDK's Verifier.
func (f *Fixture) SDK() error {
	_, err := f.Verifier.Verify(context.Background(), f.Token)
	return err
}

// Bare verifies the token with go-jose alone: parse, RS256 signature with the key in hand,
// claims decode, and the registered claims checked (iss, aud, exp, nbf, iat).
func (f *Fixture) Bare() error {
	token, err := jwt.ParseSigned(f.Token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return err
	}
	var registered jwt.Claims
	var extra extraClaims
	if err := token.Claims(f.Key, &registered, &extra); err != nil {
		return err
	}
	expected := jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: f.Now}
	if err := registered.ValidateWithLeeway(expected, 30*time.Second); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	return nil
}
