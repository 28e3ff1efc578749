package micro

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// ProblemContentType is the media type of an RFC 9457 problem details body.
const ProblemContentType = "application/problem+json"

// problemTypeBase prefixes a problem's code into its type URI, as the Micro API does.
const problemTypeBase = "urn:micro:problem:"

// UpstreamTokenHeader carries the gateway's upstream token to the services behind it.
const UpstreamTokenHeader = "X-User-Token"

// Middleware authenticates every request with v and puts the Principal in its context
// (PrincipalFrom). An access-token verifier reads "Authorization: Bearer <token>", an upstream
// verifier the gateway's X-User-Token header. No credential or a refused one is answered 401,
// keys that cannot be fetched 503, as problem details; the handler runs only for a verified
// caller. It works with any router: it is a plain func(http.Handler) http.Handler.
func Middleware(v *Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := v.credential(r)
			if !ok {
				writeUnauthenticated(w, v, `realm="api"`, "not_authenticated",
					"Authentication credentials were not provided.")
				return
			}
			principal, err := v.Verify(r.Context(), token)
			switch {
			case errors.Is(err, ErrKeysUnavailable):
				writeProblem(w, http.StatusServiceUnavailable, "signing_keys_unavailable",
					"The token issuer's signing keys are unavailable; try again later.")
			case err != nil:
				writeUnauthenticated(w, v, `realm="api", error="invalid_token"`, "invalid_token",
					"The "+v.what()+" is invalid or expired.")
			default:
				next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), principal)))
			}
		})
	}
}

// RequireScopes lets a request through only when the Principal that Middleware put in its
// context holds every one of scopes (api_admin implying the built-in Micro scopes): 401 without
// a principal, 403 insufficient_scope naming the scopes otherwise. Put it inside Middleware.
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	if len(scopes) == 0 {
		panic("micro: RequireScopes needs at least one scope")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			principal, ok := PrincipalFrom(r.Context())
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
				writeProblem(w, http.StatusUnauthorized, "not_authenticated",
					"Authentication credentials were not provided.")
				return
			}
			// Any error refuses: only a nil answer lets the request through.
			if err := principal.RequireScopes(scopes...); err != nil {
				missing := scopes
				var scopeErr *ScopeError
				if errors.As(err, &scopeErr) {
					missing = scopeErr.Missing
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="insufficient_scope", scope="`+
					strings.Join(scopes, " ")+`"`)
				writeProblem(w, http.StatusForbidden, "insufficient_scope",
					"The credential lacks: "+strings.Join(missing, " ")+".")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// credential is the token the request carries for v, if any.
func (v *Verifier) credential(r *http.Request) (string, bool) {
	if v.viaGateway {
		token := r.Header.Get(UpstreamTokenHeader)
		return token, token != ""
	}
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (v *Verifier) what() string {
	if v.viaGateway {
		return "upstream token"
	}
	return "access token"
}

func writeUnauthenticated(w http.ResponseWriter, v *Verifier, params, code, detail string) {
	scheme := "Bearer"
	if v.viaGateway { // the credential is the gateway's header, not a bearer token
		scheme = "Gateway"
	}
	w.Header().Set("WWW-Authenticate", scheme+" "+params)
	writeProblem(w, http.StatusUnauthorized, code, detail)
}

// writeProblem answers an RFC 9457 problem details body with a machine-readable code.
func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":   problemTypeBase + code,
		"title":  http.StatusText(status),
		"status": status,
		"detail": detail,
		"code":   code,
	})
}
