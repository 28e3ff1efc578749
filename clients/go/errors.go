package micro

import (
	"errors"
	"fmt"
)

// Reason says why a token was refused. The vocabulary is shared by every Micro SDK and by the
// test vectors in clients/testdata, so the three languages give the same verdicts.
type Reason string

// The reasons a token is refused.
const (
	// ReasonMalformed: not three base64url parts of JSON, or a claim of the wrong type.
	ReasonMalformed Reason = "malformed"
	// ReasonAlgorithm: alg is not RS256 (none and HS256 included).
	ReasonAlgorithm Reason = "algorithm"
	// ReasonType: the wrong kind of token (typ, or the upstream token's token_type claim).
	ReasonType Reason = "type"
	// ReasonHeader: a header naming key material (jku, jwk, x5u, x5c), crit, or no kid.
	ReasonHeader Reason = "header"
	// ReasonUnknownKey: the kid is not in the issuer's JWKS, even after a refetch.
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonSignature: the RS256 signature does not verify with the key named by kid.
	ReasonSignature Reason = "signature"
	// ReasonIssuer: iss is not exactly the configured issuer.
	ReasonIssuer Reason = "issuer"
	// ReasonAudience: aud does not contain the configured audience.
	ReasonAudience Reason = "audience"
	// ReasonExpired: exp is past, beyond the leeway.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: nbf or iat is in the future, beyond the leeway.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonMissingClaim: one of iss sub aud exp iat jti is absent.
	ReasonMissingClaim Reason = "missing_claim"
)

// TokenError is the error of a refused token: answer it with 401.
type TokenError struct {
	Reason Reason
	Detail string
}

func (e *TokenError) Error() string {
	if e.Detail == "" {
		return "micro: invalid token: " + string(e.Reason)
	}
	return fmt.Sprintf("micro: invalid token: %s: %s", e.Reason, e.Detail)
}

func refuse(reason Reason, format string, args ...any) *TokenError {
	return &TokenError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ErrKeysUnavailable is returned (wrapped) when the issuer's JWKS cannot be fetched and no
// usable copy is cached: the token cannot be judged either way, so answer 503, not 401.
var ErrKeysUnavailable = errors.New("micro: signing keys unavailable")

// ReasonOf is the Reason of a *TokenError in err's chain, or "" when there is none.
func ReasonOf(err error) Reason {
	var tokenErr *TokenError
	if errors.As(err, &tokenErr) {
		return tokenErr.Reason
	}
	return ""
}
