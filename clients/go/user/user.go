// Package user is the Micro-style user service of the RPC facade (/user/<method>):
//
//	users := user.NewUserService("user", client.NewClient(client.AuthToken(token)))
//	rsp, err := users.Read(ctx, &user.ReadRequest{Id: "..."})
package user

import (
	"context"
	"time"

	"github.com/micro-user-service/micro/clients/go/client"
)

// User is a user as the facade answers it: the private view for the user themselves or a
// caller with users:write (Email, EmailVerified, IsActive, LastLoginAt set), the public one
// otherwise.
type User struct {
	Id            string     `json:"id"`
	Username      string     `json:"username"`
	DisplayName   string     `json:"display_name"`
	AvatarUrl     string     `json:"avatar_url"`
	Kind          string     `json:"kind"`
	CreatedAt     time.Time  `json:"created_at"`
	Email         *string    `json:"email,omitempty"`
	EmailVerified *bool      `json:"email_verified,omitempty"`
	IsActive      *bool      `json:"is_active,omitempty"`
	LastLoginAt   *time.Time `json:"last_login_at,omitempty"`
}

// ReadRequest names one user: by Id, Username or Email (set one).
type ReadRequest struct {
	Id       string `json:"id,omitempty"`
	Username string `json:"username,omitempty"`
	Email    string `json:"email,omitempty"`
}

// ReadResponse holds the user read.
type ReadResponse struct {
	User *User `json:"user"`
}

// CreateRequest makes a user or a service account (users:write).
type CreateRequest struct {
	Username    string `json:"username"`
	Email       string `json:"email,omitempty"`
	Password    string `json:"password,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Kind        string `json:"kind,omitempty"`
}

// CreateResponse holds the user made.
type CreateResponse struct {
	User *User `json:"user"`
}

// UpdateRequest changes the fields set (Id names the user).
type UpdateRequest struct {
	Id          string  `json:"id"`
	Username    *string `json:"username,omitempty"`
	Email       *string `json:"email,omitempty"`
	DisplayName *string `json:"display_name,omitempty"`
	AvatarUrl   *string `json:"avatar_url,omitempty"`
	IsActive    *bool   `json:"is_active,omitempty"`
}

// UpdateResponse holds the user changed.
type UpdateResponse struct {
	User *User `json:"user"`
}

// DeleteRequest deactivates a user (users:write).
type DeleteRequest struct {
	Id string `json:"id"`
}

// DeleteResponse is empty.
type DeleteResponse struct{}

// ListRequest pages through every user (users:write).
type ListRequest struct {
	Offset int `json:"offset,omitempty"`
	Limit  int `json:"limit,omitempty"`
}

// ListResponse holds a page of users.
type ListResponse struct {
	Users []*User `json:"users"`
}

// UserService calls the facade's user methods.
type UserService struct {
	name   string
	client *client.Client
}

// NewUserService is the user service called name (its path prefix, "user") through c.
func NewUserService(name string, c *client.Client) *UserService {
	return &UserService{name: name, client: c}
}

// Read is one user by id, username or email.
func (s *UserService) Read(ctx context.Context, in *ReadRequest) (*ReadResponse, error) {
	out := &ReadResponse{}
	return out, s.client.Call(ctx, s.name, "read", in, out)
}

// Create makes a user.
func (s *UserService) Create(ctx context.Context, in *CreateRequest) (*CreateResponse, error) {
	out := &CreateResponse{}
	return out, s.client.Call(ctx, s.name, "create", in, out)
}

// Update changes a user.
func (s *UserService) Update(ctx context.Context, in *UpdateRequest) (*UpdateResponse, error) {
	out := &UpdateResponse{}
	return out, s.client.Call(ctx, s.name, "update", in, out)
}

// Delete deactivates a user.
func (s *UserService) Delete(ctx context.Context, in *DeleteRequest) (*DeleteResponse, error) {
	out := &DeleteResponse{}
	return out, s.client.Call(ctx, s.name, "delete", in, out)
}

// List is a page of users.
func (s *UserService) List(ctx context.Context, in *ListRequest) (*ListResponse, error) {
	out := &ListResponse{}
	return out, s.client.Call(ctx, s.name, "list", in, out)
}
