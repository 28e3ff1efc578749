package micro

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// The Micro scopes, and api_admin which implies each of them (never another service's scopes).
const (
	ScopeProfile      = "profile"
	ScopeUsersRead    = "users:read"
	ScopeUsersWrite   = "users:write"
	ScopeObjectsRead  = "objects:read"
	ScopeObjectsWrite = "objects:write"
	ScopeAPIAdmin     = "api_admin"
	// CLIClientID is the micro CLI's public OAuth client: its tokens are the person's own sign-in.
	CLIClientID = "micro-cli"
)

// personalSignInAMR are the amr values (RFC 8176) of a person's own sign-in: a password, a
// passkey (hwk a hardware-bound key, swk a synced one), or a trusted identity provider.
var personalSignInAMR = []string{"pwd", "hwk", "swk", "fed"}

var impliedByAPIAdmin = []string{
	ScopeProfile, ScopeUsersRead, ScopeUsersWrite, ScopeObjectsRead, ScopeObjectsWrite,
}

// ScopeGranted reports whether the scopes held grant scope: held directly, or a built-in Micro
// scope implied by api_admin (another service's scopes are never implied).
func ScopeGranted(held []string, scope string) bool {
	if slices.Contains(held, scope) {
		return true
	}
	return slices.Contains(held, ScopeAPIAdmin) && slices.Contains(impliedByAPIAdmin, scope)
}

// Principal is the verified caller of a token. It holds only what the signed claims say.
type Principal struct {
	UserID   string   // sub: the user's UUID
	Username string   // username ("" when absent)
	Kind     string   // "user" or "service"
	Scopes   []string // the scope claim split on spaces, in order
	Groups   []string // group UUIDs
	// AMR is how the caller signed in; always empty for an upstream token.
	AMR      []string
	ClientID *string // the OAuth client, nil when the token came from no OAuth client
	TokenID  string  // jti
	Audience string  // the audience the token was verified for
	// ExpiresAt is exp, in seconds since the epoch.
	ExpiresAt int64
	// ViaGateway is true for the gateway's upstream token: the gateway asserts who the caller
	// is, for a credential this service never saw.
	ViaGateway bool
	// SrcAMR is an upstream token's src_amr (how the caller signed in to the gateway), for
	// information only; empty for an access token.
	SrcAMR []string
}

// HasScope reports whether the principal holds scope (directly, or through api_admin for a
// built-in Micro scope).
func (p *Principal) HasScope(scope string) bool {
	return p != nil && ScopeGranted(p.Scopes, scope)
}

// RequireScopes is nil when the principal holds every one of scopes, a *ScopeError otherwise.
func (p *Principal) RequireScopes(scopes ...string) error {
	var missing []string
	for _, scope := range scopes {
		if !p.HasScope(scope) {
			missing = append(missing, scope)
		}
	}
	if missing != nil {
		return &ScopeError{Required: scopes, Missing: missing}
	}
	return nil
}

// IsPersonalSignIn is true when a person signed in themselves (pwd in amr, hwk or swk for a
// passkey, or fed for a sign-in at an identity provider the service trusts, and no OAuth client
// other than the micro CLI); never for an upstream token, whatever it says.
func (p *Principal) IsPersonalSignIn() bool {
	if p == nil || p.ViaGateway || (p.ClientID != nil && *p.ClientID != CLIClientID) {
		return false
	}
	return slices.ContainsFunc(p.AMR, func(method string) bool {
		return slices.Contains(personalSignInAMR, method)
	})
}

// ScopeError is the error of a verified caller lacking a scope: answer it with 403.
type ScopeError struct {
	Required []string
	Missing  []string
}

func (e *ScopeError) Error() string {
	return fmt.Sprintf("micro: insufficient scope: missing %s", strings.Join(e.Missing, " "))
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom is the principal Middleware put in ctx, or nil (and false) when there is none.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
