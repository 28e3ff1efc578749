// Package client is the Micro-style entry point of the RPC facade:
//
//	c := client.NewClient(client.Address("https://id.example.com"), client.AuthToken(token))
//	user.NewUserService("user", c).Read(ctx, &user.ReadRequest{Id: "..."})
//
// It is a thin layer over micro.Client (package github.com/micro-user-service/micro/clients/go),
// which has the whole REST API.
package client

import (
	"context"
	"errors"
	"os"

	micro "github.com/micro-user-service/micro/clients/go"
)

// AddressEnv names the environment variable read for the address when no Address option is
// given.
const AddressEnv = "MICRO_API_ADDRESS"

// Client calls the RPC facade of a Micro service. It is safe for concurrent use.
type Client struct {
	api *micro.Client
}

type options struct {
	address string
	api     []micro.Option
}

// Option configures a Client.
type Option func(*options)

// Address is the Micro service's base URL (default: $MICRO_API_ADDRESS).
func Address(baseURL string) Option {
	return func(o *options) { o.address = baseURL }
}

// AuthToken sends a fixed access token.
func AuthToken(token string) Option {
	return func(o *options) { o.api = append(o.api, micro.WithToken(token)) }
}

// APIKey exchanges an API key for short-lived access tokens, refreshed before expiry.
func APIKey(key string) Option {
	return func(o *options) { o.api = append(o.api, micro.WithAPIKey(key)) }
}

// WithOptions passes options of the main client (an HTTP client, client credentials...).
func WithOptions(opts ...micro.Option) Option {
	return func(o *options) { o.api = append(o.api, opts...) }
}

// NewClient is a client of the RPC facade.
func NewClient(opts ...Option) *Client {
	o := options{address: os.Getenv(AddressEnv)}
	for _, opt := range opts {
		opt(&o)
	}
	return &Client{api: micro.NewClient(o.address, o.api...)}
}

// ErrNoAddress is returned by calls of a Client made without an address.
var ErrNoAddress = errors.New("micro/client: no address: use client.Address or set " + AddressEnv)

// Call posts in to /<service>/<method> and decodes the answer into out; refusals are
// *micro.APIError.
func (c *Client) Call(ctx context.Context, service, method string, in, out any) error {
	if c.api.BaseURL() == "" {
		return ErrNoAddress
	}
	return c.api.RPC(ctx, service, method, in, out)
}

// API is the main client underneath, for the REST API.
func (c *Client) API() *micro.Client { return c.api }
