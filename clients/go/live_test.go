package micro_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	. "github.com/micro-user-service/micro/clients/go"
	"github.com/micro-user-service/micro/clients/go/apitypes"
	"github.com/micro-user-service/micro/clients/go/client"
	"github.com/micro-user-service/micro/clients/go/user"
)

// liveEnv is the running server the live tests use (tests/clients/live_server.py sets it);
// the tests skip without MICRO_LIVE_URL.
type liveEnv struct {
	url, audience, upstreamAudience, username, password string
	adminAPIKey, clientID, clientSecret, rotate         string
}

func live(t *testing.T) liveEnv {
	t.Helper()
	env := liveEnv{
		url: os.Getenv("MICRO_LIVE_URL"), audience: os.Getenv("MICRO_LIVE_AUDIENCE"),
		upstreamAudience: os.Getenv("MICRO_LIVE_UPSTREAM_AUDIENCE"),
		username:         os.Getenv("MICRO_LIVE_USERNAME"), password: os.Getenv("MICRO_LIVE_PASSWORD"),
		adminAPIKey: os.Getenv("MICRO_LIVE_ADMIN_API_KEY"), clientID: os.Getenv("MICRO_LIVE_CLIENT_ID"),
		clientSecret: os.Getenv("MICRO_LIVE_CLIENT_SECRET"), rotate: os.Getenv("MICRO_LIVE_ROTATE"),
	}
	if env.url == "" {
		t.Skip("MICRO_LIVE_URL is not set: no live server")
	}
	return env
}

func liveContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (e liveEnv) signIn(t *testing.T, ctx context.Context) string {
	t.Helper()
	pair, err := NewClient(e.url).Auth().SignIn(ctx, apitypes.TokenObtainInRequest{Username: e.username, Password: e.password})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	return pair.AccessToken
}

func (e liveEnv) verifier(t *testing.T) *Verifier {
	t.Helper()
	verifier, err := NewVerifier(Config{Issuer: e.url, Audience: e.audience})
	if err != nil {
		t.Fatal(err)
	}
	return verifier
}

func TestLiveSignInMintExchangeAndRead(t *testing.T) {
	env := live(t)
	ctx := liveContext(t)
	token := env.signIn(t, ctx)
	principal, err := env.verifier(t).Verify(ctx, token)
	if err != nil {
		t.Fatalf("verify the sign-in's token: %v", err)
	}
	if principal.Username != env.username || !principal.IsPersonalSignIn() || !principal.HasScope(ScopeUsersRead) {
		t.Fatalf("principal %+v", principal)
	}

	minted, err := NewClient(env.url, WithToken(token)).APIKeys().Mint(ctx, apitypes.ApiKeyCreateInRequest{
		Name: "go-sdk-live", Scopes: []string{ScopeUsersRead, ScopeObjectsRead},
	})
	if err != nil {
		t.Fatalf("mint an API key: %v", err)
	}
	keyClient := NewClient(env.url, WithAPIKey(minted.Key))
	exchanged, err := keyClient.Credentials().Token(ctx)
	if err != nil {
		t.Fatalf("exchange the API key: %v", err)
	}
	keyPrincipal, err := env.verifier(t).Verify(ctx, exchanged)
	if err != nil || keyPrincipal.UserID != principal.UserID || keyPrincipal.IsPersonalSignIn() {
		t.Fatalf("the exchanged token: %+v %v", keyPrincipal, err)
	}

	read, err := keyClient.Users().Read(ctx, principal.UserID)
	if err != nil || read.Username != env.username {
		t.Fatalf("read the user: %+v %v", read, err)
	}
	for range 2 { // the second batch is revalidated with the ETag
		batch, err := keyClient.Users().BatchRead(ctx, []string{principal.UserID})
		if err != nil || len(batch) != 1 || batch[0].Id != principal.UserID {
			t.Fatalf("batch read: %+v %v", batch, err)
		}
	}
	rsp, err := user.NewUserService("user", client.NewClient(client.Address(env.url), client.APIKey(minted.Key))).
		Read(ctx, &user.ReadRequest{Id: principal.UserID})
	if err != nil || rsp.User.Username != env.username {
		t.Fatalf("the RPC facade's read: %+v %v", rsp, err)
	}
	userClient := NewClient(env.url, WithToken(token))
	me, err := userClient.Auth().Me(ctx)
	if err != nil {
		t.Fatalf("me: %v", err)
	}
	if me.User.Email != nil && *me.User.Email != "" { // the seeded user may have no address
		if own, err := userClient.Users().ByEmail(ctx, *me.User.Email); err != nil || own.Id != principal.UserID {
			t.Fatalf("read by own email: %+v %v", own, err)
		}
	}
	if err := userClient.APIKeys().Revoke(ctx, minted.Id); err != nil {
		t.Fatalf("revoke the API key: %v", err)
	}
}

func TestLiveGrantAndCheckAccess(t *testing.T) {
	env := live(t)
	ctx := liveContext(t)
	userClient := NewClient(env.url, WithToken(env.signIn(t, ctx)))
	me, err := userClient.Auth().Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin := NewClient(env.url, WithAPIKey(env.adminAPIKey))
	objectID := "go-live-" + time.Now().Format("150405.000000")
	grant, err := admin.Access().Grant(ctx, apitypes.GrantInRequest{
		ObjectType: "document", ObjectId: objectID, SubjectType: apitypes.SubjectTypeEnum("user"),
		SubjectId: me.User.Id, Read: ptr(true),
	})
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	check := func(permission string) bool {
		allowed, err := userClient.Access().Check(ctx, apitypes.CheckInRequest{
			ObjectType: "document", ObjectId: objectID, Permission: apitypes.PermissionEnum(permission),
		})
		if err != nil {
			t.Fatalf("check %s: %v", permission, err)
		}
		return allowed
	}
	if !check("read") || check("write") {
		t.Fatal("the grant gives read and only read")
	}
	if err := admin.Access().Revoke(ctx, grant.Id); err != nil {
		t.Fatalf("revoke the grant: %v", err)
	}
	if check("read") {
		t.Fatal("read survives the revoked grant")
	}
}

func TestLiveSigningKeyRotation(t *testing.T) {
	env := live(t)
	ctx := liveContext(t)
	verifier := env.verifier(t)
	before := env.signIn(t, ctx)
	if _, err := verifier.Verify(ctx, before); err != nil {
		t.Fatal(err)
	}
	if output, err := exec.CommandContext(ctx, env.rotate).CombinedOutput(); err != nil {
		t.Fatalf("rotate the signing key: %v\n%s", err, output)
	}
	// Each server worker reloads its signing key within MICRO_SIGNING_KEY_REFRESH_SECONDS.
	after := env.signIn(t, ctx)
	for deadline := time.Now().Add(90 * time.Second); kidOf(t, after) == kidOf(t, before); after = env.signIn(t, ctx) {
		if time.Now().After(deadline) {
			t.Fatal("the rotation did not change the signing key")
		}
		time.Sleep(2 * time.Second)
	}
	if _, err := verifier.Verify(ctx, after); err != nil {
		t.Fatalf("a token of the new key, same verifier: %v", err)
	}
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	parsed, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Signatures[0].Header.KeyID
}

func TestLiveRevokedTokenIsRefusedThroughIntrospection(t *testing.T) {
	env := live(t)
	ctx := liveContext(t)
	token := env.signIn(t, ctx)
	introspector := func() *Introspector {
		introspector, err := NewIntrospector(IntrospectorConfig{Issuer: env.url, ClientID: env.clientID, ClientSecret: env.clientSecret})
		if err != nil {
			t.Fatal(err)
		}
		return introspector
	}
	if err := introspector().Active(ctx, token); err != nil {
		t.Fatalf("a live token: %v", err)
	}
	if err := NewClient(env.url, WithToken(token)).Auth().Revoke(ctx, token); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if err := introspector().Active(ctx, token); !errors.Is(err, ErrTokenInactive) {
		t.Fatalf("a revoked token: %v", err)
	}
	// Offline verification cannot see the revocation: that is what introspection is for.
	if _, err := env.verifier(t).Verify(ctx, token); err != nil {
		t.Fatalf("offline verification: %v", err)
	}
}

func TestLiveClientCredentials(t *testing.T) {
	env := live(t)
	ctx := liveContext(t)
	admin := NewClient(env.url, WithClientCredentials(env.clientID, env.clientSecret, ""))
	if _, err := admin.Auth().Me(ctx); err != nil {
		t.Fatalf("a client-credentials token: %v", err)
	}
}

func ptr[T any](value T) *T { return &value }
