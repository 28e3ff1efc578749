package user_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/micro-user-service/micro/clients/go/client"
	"github.com/micro-user-service/micro/clients/go/user"
)

func TestReadCallsTheRPCFacade(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if r.Method != http.MethodPost || r.URL.Path != "/user/read" || body["id"] != "u1" ||
			r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"user": {"id": "u1", "username": "alice", "kind": "user", "created_at": "2026-01-01T00:00:00Z"}}`))
	}))
	defer server.Close()
	users := user.NewUserService("user", client.NewClient(client.Address(server.URL), client.AuthToken("tok")))
	rsp, err := users.Read(context.Background(), &user.ReadRequest{Id: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if rsp.User.Username != "alice" || rsp.User.Email != nil {
		t.Fatalf("%+v", rsp.User)
	}
}

func TestCallWithoutAnAddressFails(t *testing.T) {
	t.Setenv(client.AddressEnv, "")
	_, err := user.NewUserService("user", client.NewClient()).Read(context.Background(), &user.ReadRequest{Id: "u1"})
	if err != client.ErrNoAddress {
		t.Fatalf("want ErrNoAddress, got %v", err)
	}
}
