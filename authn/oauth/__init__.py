"""OAuth 2.0 / OpenID Connect: django-oauth-toolkit wired to the service's own keys and tokens."""
