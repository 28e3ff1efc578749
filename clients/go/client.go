package micro

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	maxResponseBytes = 4 << 20
	maxETagEntries   = 1024
)

// APIError is a refusal from the Micro API: the RFC 9457 problem's status, code, title and
// detail (Errors holds per-field messages of a 400). An OAuth endpoint's error (RFC 6749) has
// its error in Code and its description in Detail.
type APIError struct {
	Status int
	Code   string
	Title  string
	Detail string
	Type   string
	Errors map[string]any
}

func (e *APIError) Error() string {
	if len(e.Errors) > 0 {
		return fmt.Sprintf("micro: %d %s: %s %v", e.Status, e.Code, e.Detail, e.Errors)
	}
	return fmt.Sprintf("micro: %d %s: %s", e.Status, e.Code, e.Detail)
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound
}

// Client calls the Micro API. It is safe for concurrent use.
type Client struct {
	baseURL      string
	http         *http.Client
	credentials  CredentialSource
	etags        etagCache
	insecureHTTP bool
	// err is why the client may not send anything (a base URL over plain http); every call
	// returns it before any credential is read or sent.
	err error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client requests go through (default: a 30 s timeout). The
// client uses a copy that never follows redirects.
func WithHTTPClient(client *http.Client) Option {
	return func(c *Client) { c.http = client }
}

// WithCredentials sets where the client's bearer tokens come from.
func WithCredentials(source CredentialSource) Option {
	return func(c *Client) { c.credentials = source }
}

// WithInsecureHTTP lets the client send its credentials over plain http:// to any host. For
// development and tests only: on a network, anyone on the path reads the bearer token, the
// API key or the password.
func WithInsecureHTTP() Option {
	return func(c *Client) { c.insecureHTTP = true }
}

// WithToken sends a fixed access token.
func WithToken(token string) Option {
	return WithCredentials(StaticToken(token))
}

// WithAPIKey exchanges an API key for short-lived access tokens, refreshed before expiry.
func WithAPIKey(key string) Option {
	return func(c *Client) { c.credentials = &APIKeySource{Key: key, client: c} }
}

// WithClientCredentials gets tokens with the OAuth client-credentials grant at /o/token/
// (scope may be empty: the client's own scopes).
func WithClientCredentials(clientID, clientSecret, scope string) Option {
	return func(c *Client) {
		c.credentials = &ClientCredentialsSource{ClientID: clientID, ClientSecret: clientSecret, Scope: scope, client: c}
	}
}

// NewClient is a client of the Micro API at baseURL (the issuer, e.g. https://id.example.com).
// baseURL must be https://, or plain http:// to a loopback IP literal (127.0.0.1, [::1])
// unless WithInsecureHTTP is given: otherwise every call returns an error wrapping
// ErrInsecureURL, and nothing is sent.
func NewClient(baseURL string, opts ...Option) *Client {
	c := &Client{baseURL: strings.TrimRight(baseURL, "/"), http: &http.Client{Timeout: 30 * time.Second}}
	for _, opt := range opts {
		opt(c)
	}
	// A redirect would carry the credential, or the password and body of a POST, to wherever
	// the server points: a 3xx is answered to the caller as an *APIError instead.
	c.http = noRedirects(c.http)
	if !c.insecureHTTP {
		c.err = RequireSecureURL(c.baseURL)
	}
	return c
}

// request is one API call: a JSON body in, a JSON body (or nothing) out.
type request struct {
	method string
	path   string
	query  url.Values
	body   any
	// form, when set, is sent as application/x-www-form-urlencoded instead of body.
	form url.Values
	// bearer and basicAuth send their own credential instead of the client's (the
	// credential sources' own calls); anonymous sends none.
	bearer    string
	basicAuth [2]string
	anonymous bool
	// etag answers from the client's ETag cache on a 304.
	etag bool
}

// do sends req and decodes a 2xx answer into out (when out is not nil). A 401 with a credential
// source that can get a new token is retried once with a fresh token; a refusal of the
// credential source itself (a revoked API key) is returned at once.
func (c *Client) do(ctx context.Context, req request, out any) error {
	body, err := c.send(ctx, req, false)
	var apiErr *APIError
	ownCredential := req.anonymous || req.bearer != "" || req.basicAuth[0] != ""
	var credErr *credentialError // the credential source itself was refused: asking again is no use
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized && !ownCredential && !errors.As(err, &credErr) {
		if renewable, ok := c.credentials.(interface{ Invalidate() }); ok {
			renewable.Invalidate()
			body, err = c.send(ctx, req, true)
		}
	}
	if err != nil || out == nil || len(body) == 0 {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("micro: %s %s: %w", req.method, req.path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, req request, retry bool) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	target := c.baseURL + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	var payload io.Reader
	contentType := ""
	switch {
	case req.form != nil:
		payload, contentType = strings.NewReader(req.form.Encode()), "application/x-www-form-urlencoded"
	case req.body != nil:
		raw, err := json.Marshal(req.body)
		if err != nil {
			return nil, err
		}
		payload, contentType = bytes.NewReader(raw), "application/json"
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.method, target, payload)
	if err != nil {
		return nil, err
	}
	httpReq.Header.Set("Accept", "application/json")
	if contentType != "" {
		httpReq.Header.Set("Content-Type", contentType)
	}
	if err := c.authorize(ctx, httpReq, req); err != nil {
		return nil, err
	}
	var cached *etagEntry
	if req.etag && !retry {
		if cached = c.etags.get(target); cached != nil {
			httpReq.Header.Set("If-None-Match", cached.etag)
		}
	}
	resp, err := c.http.Do(httpReq)
	if err != nil {
		return nil, fmt.Errorf("micro: %s %s: %w", req.method, req.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("micro: %s %s: %w", req.method, req.path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && cached != nil:
		return cached.body, nil
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if etag := resp.Header.Get("ETag"); req.etag && etag != "" {
			c.etags.put(target, &etagEntry{etag: etag, body: body})
		}
		return body, nil
	}
	return nil, apiError(resp.StatusCode, body)
}

func (c *Client) authorize(ctx context.Context, httpReq *http.Request, req request) error {
	switch {
	case req.bearer != "":
		httpReq.Header.Set("Authorization", "Bearer "+req.bearer)
	case req.basicAuth[0] != "":
		// RFC 6749 2.3.1: the id and secret are form-encoded before Basic encoding.
		httpReq.SetBasicAuth(url.QueryEscape(req.basicAuth[0]), url.QueryEscape(req.basicAuth[1]))
	case req.anonymous || c.credentials == nil:
	default:
		token, err := c.credentials.Token(ctx)
		if err != nil {
			return &credentialError{err}
		}
		httpReq.Header.Set("Authorization", "Bearer "+token)
	}
	return nil
}

// credentialError is an error of the client's credential source (a refused API key exchange
// or client-credentials grant), as opposed to a refusal of the request itself.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// apiError reads a problem details body (or an OAuth error) into an *APIError.
func apiError(status int, body []byte) *APIError {
	apiErr := &APIError{Status: status, Title: http.StatusText(status)}
	var problem struct {
		Type             string         `json:"type"`
		Title            string         `json:"title"`
		Detail           string         `json:"detail"`
		Code             string         `json:"code"`
		Errors           map[string]any `json:"errors"`
		Error            string         `json:"error"`
		ErrorDescription string         `json:"error_description"`
	}
	if json.Unmarshal(body, &problem) != nil {
		apiErr.Detail = strings.TrimSpace(string(body[:min(len(body), 200)]))
		return apiErr
	}
	apiErr.Type, apiErr.Code, apiErr.Detail, apiErr.Errors = problem.Type, problem.Code, problem.Detail, problem.Errors
	if problem.Title != "" {
		apiErr.Title = problem.Title
	}
	if apiErr.Code == "" && problem.Error != "" {
		apiErr.Code, apiErr.Detail = problem.Error, problem.ErrorDescription
	}
	return apiErr
}

// etagCache keeps the last 200 answer of a GET with its ETag, so a repeated read sends
// If-None-Match and a 304 costs the server no body. Bounded: it starts over when full.
type etagCache struct {
	mu      sync.Mutex
	entries map[string]*etagEntry
}

type etagEntry struct {
	etag string
	body []byte
}

func (e *etagCache) get(key string) *etagEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.entries[key]
}

func (e *etagCache) put(key string, entry *etagEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.entries == nil || len(e.entries) >= maxETagEntries {
		e.entries = make(map[string]*etagEntry)
	}
	e.entries[key] = entry
}

// Page is one page of a list: its rows and the cursor of the next page ("" on the last).
type Page[T any] struct {
	Next    *string `json:"next"`
	Results []T     `json:"results"`
}

// NextCursor is the cursor of the next page, "" when this is the last one.
func (p *Page[T]) NextCursor() string {
	if p.Next == nil {
		return ""
	}
	link, err := url.Parse(*p.Next)
	if err != nil {
		return ""
	}
	return link.Query().Get("cursor")
}

// queryOf encodes the set fields of a generated parameters struct (its form tags) as a query.
func queryOf(params any) url.Values {
	query := url.Values{}
	value := reflect.Indirect(reflect.ValueOf(params))
	if !value.IsValid() {
		return query
	}
	for i := range value.NumField() {
		name, _, _ := strings.Cut(value.Type().Field(i).Tag.Get("form"), ",")
		field := value.Field(i)
		if name == "" || field.Kind() != reflect.Pointer || field.IsNil() {
			continue
		}
		switch elem := field.Elem(); elem.Kind() {
		case reflect.String:
			query.Set(name, elem.String())
		case reflect.Int:
			query.Set(name, strconv.FormatInt(elem.Int(), 10))
		}
	}
	return query
}

// Credentials is where the client's bearer tokens come from (nil without one).
func (c *Client) Credentials() CredentialSource { return c.credentials }

// BaseURL is the API's base URL the client was made with.
func (c *Client) BaseURL() string { return c.baseURL }
