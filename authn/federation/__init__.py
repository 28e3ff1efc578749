"""Sign-in with upstream OpenID Connect providers (federation), built on Authlib's Django
client: discovery, PKCE, state, nonce, the code exchange and the ID token checks."""
