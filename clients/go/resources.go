package micro

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/micro-user-service/micro/clients/go/apitypes"
)

// ListOptions picks a page of a list: the cursor of a previous page's NextCursor, and a page
// size (the API's default when 0; at most 100).
type ListOptions struct {
	Cursor   string
	PageSize int
}

func (o ListOptions) query() url.Values {
	query := url.Values{}
	if o.Cursor != "" {
		query.Set("cursor", o.Cursor)
	}
	if o.PageSize > 0 {
		query.Set("page_size", strconv.Itoa(o.PageSize))
	}
	return query
}

func path(parts ...string) string {
	for i, part := range parts {
		if i%2 == 1 {
			parts[i] = url.PathEscape(part)
		}
	}
	return strings.Join(parts, "")
}

// Auth signs in with a password and revokes tokens.
type Auth struct{ c *Client }

// Auth is the sign-in API.
func (c *Client) Auth() *Auth { return &Auth{c} }

// SignIn exchanges a username and password (and a one-time code when the account has MFA)
// for an access token and a refresh token. It sends no other credential.
func (a *Auth) SignIn(ctx context.Context, in apitypes.TokenObtainInRequest) (*apitypes.TokenPairOut, error) {
	var out apitypes.TokenPairOut
	err := a.c.do(ctx, request{method: http.MethodPost, path: "/api/v1/auth/token", body: in, anonymous: true}, &out)
	return &out, err
}

// Revoke revokes a refresh or access token of the caller.
func (a *Auth) Revoke(ctx context.Context, token string) error {
	return a.c.do(ctx, request{method: http.MethodPost, path: "/api/v1/auth/token/revoke",
		body: apitypes.TokenRevokeInRequest{Token: token}}, nil)
}

// Me is the caller's account, groups and scopes.
func (a *Auth) Me(ctx context.Context) (*apitypes.MeOut, error) {
	var out apitypes.MeOut
	return &out, a.c.do(ctx, request{method: http.MethodGet, path: "/api/v1/me"}, &out)
}

// Users reads and manages user accounts.
type Users struct{ c *Client }

// Users is the users API.
func (c *Client) Users() *Users { return &Users{c} }

// Read is one user (the private view for the user themselves or users:write, else public).
// Repeated reads revalidate with the ETag.
func (u *Users) Read(ctx context.Context, id string) (*apitypes.UserPrivateOut, error) {
	var out apitypes.UserPrivateOut
	return &out, u.c.do(ctx, request{method: http.MethodGet, path: path("/api/v1/users/", id), etag: true}, &out)
}

// BatchRead is the public view of up to 100 users by id, in one request; unknown ids are left
// out. A repeated batch sends If-None-Match and is answered from the cache on a 304.
func (u *Users) BatchRead(ctx context.Context, ids []string) ([]apitypes.UserPublicOut, error) {
	var out apitypes.UserBatchOut
	query := url.Values{"ids": {strings.Join(ids, ",")}}
	err := u.c.do(ctx, request{method: http.MethodGet, path: "/api/v1/users", query: query, etag: true}, &out)
	return out.Results, err
}

// ByUsername is the user with this username (case-insensitive); an *APIError 404 when none.
func (u *Users) ByUsername(ctx context.Context, username string) (*apitypes.UserPublicOut, error) {
	var out apitypes.UserBatchOut
	query := url.Values{"username": {username}}
	if err := u.c.do(ctx, request{method: http.MethodGet, path: "/api/v1/users", query: query, etag: true}, &out); err != nil {
		return nil, err
	}
	if len(out.Results) == 0 {
		return nil, &APIError{Status: http.StatusNotFound, Code: "user_not_found", Title: "Not Found", Detail: "No user with this username."}
	}
	return &out.Results[0], nil
}

// ByEmail is the user with this email address, through the RPC facade's read: the caller's
// own address, or anyone's with users:write (403 otherwise, whether or not the address is
// registered). Fields the caller may not see are left empty.
func (u *Users) ByEmail(ctx context.Context, email string) (*apitypes.UserPrivateOut, error) {
	var out struct {
		User apitypes.UserPrivateOut `json:"user"`
	}
	err := u.c.RPC(ctx, "user", "read", map[string]string{"email": email}, &out)
	return &out.User, err
}

// List is a page of every user (users:write).
func (u *Users) List(ctx context.Context, opts ListOptions) (*Page[apitypes.UserPrivateOut], error) {
	var out Page[apitypes.UserPrivateOut]
	return &out, u.c.do(ctx, request{method: http.MethodGet, path: "/api/v1/users", query: opts.query()}, &out)
}

// Create makes a user or a service account (users:write).
func (u *Users) Create(ctx context.Context, in apitypes.UserCreateInRequest) (*apitypes.UserPrivateOut, error) {
	var out apitypes.UserPrivateOut
	return &out, u.c.do(ctx, request{method: http.MethodPost, path: "/api/v1/users", body: in}, &out)
}

// Update changes the fields set in in.
func (u *Users) Update(ctx context.Context, id string, in apitypes.PatchedUserUpdateAdminInRequest) (*apitypes.UserPrivateOut, error) {
	var out apitypes.UserPrivateOut
	return &out, u.c.do(ctx, request{method: http.MethodPatch, path: path("/api/v1/users/", id), body: in}, &out)
}

// Delete deactivates a user (users:write).
func (u *Users) Delete(ctx context.Context, id string) error {
	return u.c.do(ctx, request{method: http.MethodDelete, path: path("/api/v1/users/", id)}, nil)
}

// Groups manages groups and their members.
type Groups struct{ c *Client }

// Groups is the groups API.
func (c *Client) Groups() *Groups { return &Groups{c} }

// List is a page of the groups the caller may see.
func (g *Groups) List(ctx context.Context, opts ListOptions) (*Page[apitypes.GroupOut], error) {
	var out Page[apitypes.GroupOut]
	return &out, g.c.do(ctx, request{method: http.MethodGet, path: "/api/v1/groups", query: opts.query()}, &out)
}

// Create makes a group; the caller becomes its owner.
func (g *Groups) Create(ctx context.Context, in apitypes.GroupInRequest) (*apitypes.GroupOut, error) {
	var out apitypes.GroupOut
	return &out, g.c.do(ctx, request{method: http.MethodPost, path: "/api/v1/groups", body: in}, &out)
}

// AddMember adds a user to a group.
func (g *Groups) AddMember(ctx context.Context, groupID string, in apitypes.MemberInRequest) (*apitypes.MemberOut, error) {
	var out apitypes.MemberOut
	return &out, g.c.do(ctx, request{method: http.MethodPost, path: path("/api/v1/groups/", groupID, "/members"), body: in}, &out)
}

// RemoveMember removes a user from a group.
func (g *Groups) RemoveMember(ctx context.Context, groupID, userID string) error {
	return g.c.do(ctx, request{method: http.MethodDelete, path: path("/api/v1/groups/", groupID, "/members/", userID)}, nil)
}

// APIKeys mints, rotates, lists and revokes API keys.
type APIKeys struct{ c *Client }

// APIKeys is the API keys API.
func (c *Client) APIKeys() *APIKeys { return &APIKeys{c} }

// Mint makes an API key; its secret is in the answer's Key, shown this once.
func (k *APIKeys) Mint(ctx context.Context, in apitypes.ApiKeyCreateInRequest) (*apitypes.MintedKeyOut, error) {
	var out apitypes.MintedKeyOut
	return &out, k.c.do(ctx, request{method: http.MethodPost, path: "/api/v1/api-keys", body: in}, &out)
}

// Rotate replaces a key by a new one; the old one keeps working for graceHours.
func (k *APIKeys) Rotate(ctx context.Context, id string, graceHours int) (*apitypes.MintedKeyOut, error) {
	var out apitypes.MintedKeyOut
	return &out, k.c.do(ctx, request{method: http.MethodPost, path: path("/api/v1/api-keys/", id, "/rotate"),
		body: apitypes.ApiKeyRotateInRequest{GraceHours: graceHours}}, &out)
}

// Revoke revokes a key at once.
func (k *APIKeys) Revoke(ctx context.Context, id string) error {
	return k.c.do(ctx, request{method: http.MethodDelete, path: path("/api/v1/api-keys/", id)}, nil)
}

// List is a page of the caller's keys (or params.UserId's, with api_admin).
func (k *APIKeys) List(ctx context.Context, params apitypes.ApiKeysRetrieveParams) (*Page[apitypes.ApiKeyOut], error) {
	var out Page[apitypes.ApiKeyOut]
	return &out, k.c.do(ctx, request{method: http.MethodGet, path: "/api/v1/api-keys", query: queryOf(params)}, &out)
}

// Access grants and checks permissions on objects.
type Access struct{ c *Client }

// Access is the access-grants API.
func (c *Client) Access() *Access { return &Access{c} }

// Grant gives a user or group read, write or admin on an object.
func (a *Access) Grant(ctx context.Context, in apitypes.GrantInRequest) (*apitypes.GrantOut, error) {
	var out apitypes.GrantOut
	return &out, a.c.do(ctx, request{method: http.MethodPost, path: "/api/v1/access", body: in}, &out)
}

// Revoke removes a grant.
func (a *Access) Revoke(ctx context.Context, grantID string) error {
	return a.c.do(ctx, request{method: http.MethodDelete, path: path("/api/v1/access/", grantID)}, nil)
}

// Check reports whether the caller (or in.SubjectId) holds the permission on the object.
func (a *Access) Check(ctx context.Context, in apitypes.CheckInRequest) (bool, error) {
	var out apitypes.CheckOut
	err := a.c.do(ctx, request{method: http.MethodPost, path: "/api/v1/access/check", body: in}, &out)
	return out.Allowed, err
}

// List is a page of grants, filtered by params.
func (a *Access) List(ctx context.Context, params apitypes.AccessListParams) (*Page[apitypes.GrantOut], error) {
	var out Page[apitypes.GrantOut]
	return &out, a.c.do(ctx, request{method: http.MethodGet, path: "/api/v1/access", query: queryOf(params)}, &out)
}

// Objects stores and reads the caller's objects.
type Objects struct{ c *Client }

// Objects is the objects API.
func (c *Client) Objects() *Objects { return &Objects{c} }

// Create stores an object owned by the caller.
func (o *Objects) Create(ctx context.Context, in apitypes.ObjectCreateInRequest) (*apitypes.ObjectOut, error) {
	var out apitypes.ObjectOut
	return &out, o.c.do(ctx, request{method: http.MethodPost, path: "/api/v1/objects", body: in}, &out)
}

// Get is one object the caller may read (404 otherwise).
func (o *Objects) Get(ctx context.Context, id string) (*apitypes.ObjectOut, error) {
	var out apitypes.ObjectOut
	return &out, o.c.do(ctx, request{method: http.MethodGet, path: path("/api/v1/objects/", id)}, &out)
}

// Update changes the fields set in in (Version makes it conditional).
func (o *Objects) Update(ctx context.Context, id string, in apitypes.PatchedObjectUpdateInRequest) (*apitypes.ObjectOut, error) {
	var out apitypes.ObjectOut
	return &out, o.c.do(ctx, request{method: http.MethodPatch, path: path("/api/v1/objects/", id), body: in}, &out)
}

// Delete removes an object.
func (o *Objects) Delete(ctx context.Context, id string) error {
	return o.c.do(ctx, request{method: http.MethodDelete, path: path("/api/v1/objects/", id)}, nil)
}

// List is a page of the objects the caller may read.
func (o *Objects) List(ctx context.Context, opts ListOptions) (*Page[apitypes.ObjectOut], error) {
	var out Page[apitypes.ObjectOut]
	return &out, o.c.do(ctx, request{method: http.MethodGet, path: "/api/v1/objects", query: opts.query()}, &out)
}

// Audit reads audit events.
type Audit struct{ c *Client }

// Audit is the audit-events API.
func (c *Client) Audit() *Audit { return &Audit{c} }

// List is a page of audit events, filtered by params.
func (a *Audit) List(ctx context.Context, params apitypes.AuditEventsRetrieveParams) (*Page[apitypes.AuditEventOut], error) {
	var out Page[apitypes.AuditEventOut]
	return &out, a.c.do(ctx, request{method: http.MethodGet, path: "/api/v1/audit-events", query: queryOf(params)}, &out)
}

// RPC calls a method of the Micro-style RPC facade (POST /<service>/<method>, e.g.
// /user/read) with a JSON body, decoding the answer into out.
func (c *Client) RPC(ctx context.Context, service, method string, in, out any) error {
	return c.do(ctx, request{method: http.MethodPost, path: path("/", service, "/", method), body: in}, out)
}
