"""Settings shared by every environment: secure defaults, everything from the environment."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from authn.oauth.user_codes import user_code_generate
from micro_client import contract
from micro_platform.env import env_bool, env_email, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or ""
if not SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is false")
# Old keys stay valid for decrypting signing keys and verifying sessions during a rotation.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    # The admin site behind the dashboard's sign-in and OTP (authn.web.admin_site).
    "authn.web.admin_site.MicroAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    # Before oauth2_provider, so its `createapplication` replaces the toolkit's.
    "authn.oauth.apps.OAuthClientsConfig",
    "oauth2_provider",
    "accounts",
    "authn",
    "permissions",
    "objects",
    "audit",
    "rpc",
    "micro_platform.apps.PlatformConfig",
]

MIDDLEWARE = [
    "micro_platform.metrics.RequestDurationMiddleware",
    # Answers a clean gateway verify or public user read with a valid credential, ahead of the
    # rest (docs/gateway.md); every other request, and every error, goes on below.
    "authn.gateway.fast_path.FastPathMiddleware",
    "micro_platform.middleware.BodySizeLimitMiddleware",
    "micro_platform.middleware.IssuerHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ (admin and dashboard CSS) from gunicorn, with far-future caching.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "micro_platform.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "authn.web.middleware.DashboardSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost: the problem it substitutes for a 404 still gets every header added above.
    "micro_platform.middleware.ApiNotFoundMiddleware",
]

ROOT_URLCONF = "micro_platform.urls"
WSGI_APPLICATION = "micro_platform.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases --------------------------------------------------------------
_DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
if not env_str("DATABASE_URL"):
    VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _DEFAULT_SQLITE) or _DEFAULT_SQLITE,
        conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 60),
        # Off by default: it costs a round trip per request. A connection broken by a database
        # restart fails one request (503) and Django discards it at the end of that request.
        conn_health_checks=env_bool("DJANGO_CONN_HEALTH_CHECKS", False),
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed during a write; the timeout rides out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The connection is kept like PostgreSQL's (DJANGO_CONN_MAX_AGE): opening the file and
    # running the PRAGMAs again cost more than the rest of a gateway verify. Each worker
    # process and thread has its own connection; WAL lets them read while one writes.
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# `objects` and `permissions` keep no foreign keys to `accounts` (ids only), so they may
# live in a database of their own; the router sends them there when this is set.
OBJECTS_DATABASE_URL = env_str("OBJECTS_DATABASE_URL")
if OBJECTS_DATABASE_URL:
    DATABASES["objects"] = dj_database_url.parse(
        OBJECTS_DATABASE_URL,
        conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 60),
        conn_health_checks=env_bool("DJANGO_CONN_HEALTH_CHECKS", False),
    )
    DATABASE_ROUTERS = ["micro_platform.db_routers.ObjectsRouter"]
for _database in DATABASES.values():
    if _database["ENGINE"] == "django.db.backends.postgresql":
        # An unreachable server must fail a request (503) in seconds, not hold its worker
        # until gunicorn's timeout; `?connect_timeout=` in the URL overrides it.
        _database.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)

# --- Cache: shared by every worker and instance (lockout, revocation, throttles) ---
REDIS_URL = env_str("REDIS_URL")
# The cache without Redis: a table in the main database.
DATABASE_CACHE = {
    "BACKEND": "micro_platform.cache.ProtectedCullDatabaseCache",
    "LOCATION": "micro_cache",
    "KEY_PREFIX": "micro",
    # A full table drops its expired entries, then a tenth of the rest, never all of it
    # (CULL_FREQUENCY 0 cleared every entry, so filling the cache emptied it), and never the
    # revocation list (its keys and its "loaded" marker start with `authn:rev`): a culled
    # revocation would let a revoked token through (micro_platform/cache.py).
    "CULL_PROTECTED_PREFIXES": ["authn:rev"],
    "OPTIONS": {"MAX_ENTRIES": 10_000_000, "CULL_FREQUENCY": 10},
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "micro",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CACHES = {"default": DATABASE_CACHE}

# --- Identity ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.CaseInsensitiveModelBackend"]
PASSWORD_HASHERS = [
    "accounts.hashers.OwaspArgon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # Only for generated OAuth client secrets (OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]);
    # passwords are always hashed with the first entry.
    "authn.oauth.hashers.ClientSecretHasher",
]
# OWASP Password Storage Cheat Sheet minimum for Argon2id: m=19 MiB, t=2, p=1.
MICRO_ARGON2_MEMORY_KIB = env_int("MICRO_ARGON2_MEMORY_KIB", 19 * 1024, minimum=19 * 1024)
MICRO_ARGON2_TIME_COST = env_int("MICRO_ARGON2_TIME_COST", 2, minimum=2)
MICRO_ARGON2_PARALLELISM = env_int("MICRO_ARGON2_PARALLELISM", 1, minimum=1)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "accounts.validators.MaximumLengthValidator", "OPTIONS": {"max_length": 256}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

MICRO_ISSUER = (env_str("MICRO_ISSUER", "http://127.0.0.1:8000") or "").rstrip("/")
MICRO_TOKEN_AUDIENCE = env_str("MICRO_TOKEN_AUDIENCE", "micro") or "micro"
# `aud` of the gateway's upstream token (X-User-Token): never the access tokens' audience, so
# a verifier configured for one kind refuses the other even if it skipped the `typ` check.
MICRO_UPSTREAM_TOKEN_AUDIENCE = (
    env_str("MICRO_UPSTREAM_TOKEN_AUDIENCE", "micro-upstream") or "micro-upstream"
)
if MICRO_UPSTREAM_TOKEN_AUDIENCE == MICRO_TOKEN_AUDIENCE:
    raise ImproperlyConfigured(
        "MICRO_UPSTREAM_TOKEN_AUDIENCE must differ from MICRO_TOKEN_AUDIENCE"
    )
MICRO_ACCESS_TOKEN_TTL = env_int("MICRO_ACCESS_TOKEN_TTL", 600, minimum=30)
MICRO_REFRESH_TOKEN_TTL = env_int("MICRO_REFRESH_TOKEN_TTL", 1209600, minimum=60)
MICRO_SIGNUP_OPEN = env_bool("MICRO_SIGNUP_OPEN", False)
# How often a process asks the shared cache whether the scope registry changed elsewhere
# (permissions.catalogue); its own changes it sees at once.
MICRO_REGISTRY_REFRESH_SECONDS = 2.0
# An audit detail not on its event type's allow-list (audit/services.py) raises instead of being
# dropped with a warning: on in development and the tests, where such a caller is a bug.
MICRO_AUDIT_STRICT = env_bool("MICRO_AUDIT_STRICT", DEBUG)
MICRO_LOGIN_FAILURES_PER_IP = env_int("MICRO_LOGIN_FAILURES_PER_IP", 100, minimum=1)
# --- MFA and brute-force protection (authn.mfa.services, authn.lockout) ---
OTP_TOTP_ISSUER = "Micro"
# django-otp's per-device back-off also refuses a *correct* code for a while after a wrong
# one and keeps its state in the database; authn.mfa.services throttles wrong codes per user
# in the shared cache (answering 429 + Retry-After) instead.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# Seeds are never shown; devices are not in the admin at all (authn/admin.py).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
MICRO_LOCKOUT_THRESHOLD = env_int("MICRO_LOCKOUT_THRESHOLD", 10, minimum=1)
MICRO_LOCKOUT_SECONDS = env_int("MICRO_LOCKOUT_SECONDS", 900, minimum=1)
MICRO_MFA_FAILURES_PER_USER = env_int("MICRO_MFA_FAILURES_PER_USER", 5, minimum=1)
MICRO_SESSION_TTL = env_int("MICRO_SESSION_TTL", 86400, minimum=60)
# Administrators (staff, or holders of api_admin) may not remove their last second factor.
MICRO_MFA_REQUIRED_FOR_ADMINS = env_bool("MICRO_MFA_REQUIRED_FOR_ADMINS", False)
# --- Passkeys (authn.mfa.passkeys; django-otp-webauthn's credential model and browser script) ---
# The RP ID is the issuer's host unless set to a parent domain of it; origins are the issuer's
# and any listed under that domain. An IP address cannot be an RP ID and browsers offer WebAuthn
# only on https (or http://localhost), so passkeys are off for other issuers (micro.W010).
_issuer = urlsplit(MICRO_ISSUER)
_issuer_host = _issuer.hostname or ""
MICRO_WEBAUTHN_RP_ID = (env_str("MICRO_WEBAUTHN_RP_ID", "") or _issuer_host).lower()


def _under_rp_id(host: str) -> bool:
    return host == MICRO_WEBAUTHN_RP_ID or host.endswith("." + MICRO_WEBAUTHN_RP_ID)


if not _under_rp_id(_issuer_host):
    raise ImproperlyConfigured(
        f"MICRO_WEBAUTHN_RP_ID {MICRO_WEBAUTHN_RP_ID!r} must be the issuer's host"
        f" {_issuer_host!r} or a parent domain of it"
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


MICRO_PASSKEYS_ENABLED = (
    bool(_issuer_host)
    and not _is_ip(_issuer_host)
    and (_issuer.scheme == "https" or (_issuer.scheme == "http" and _issuer_host == "localhost"))
)
MICRO_WEBAUTHN_EXTRA_ORIGINS = env_list("MICRO_WEBAUTHN_EXTRA_ORIGINS", "")
for _origin in MICRO_WEBAUTHN_EXTRA_ORIGINS:
    if not _under_rp_id((urlsplit(_origin).hostname or "").lower()):
        raise ImproperlyConfigured(
            f"MICRO_WEBAUTHN_EXTRA_ORIGINS: {_origin!r} is not on {MICRO_WEBAUTHN_RP_ID!r} or"
            " a subdomain of it"
        )
OTP_WEBAUTHN_RP_ID = MICRO_WEBAUTHN_RP_ID
OTP_WEBAUTHN_RP_NAME = env_str("MICRO_WEBAUTHN_RP_NAME", "Micro") or "Micro"
OTP_WEBAUTHN_ALLOWED_ORIGINS = (
    [f"{_issuer.scheme}://{_issuer.netloc}", *MICRO_WEBAUTHN_EXTRA_ORIGINS]
    if MICRO_PASSKEYS_ENABLED
    else []
)
OTP_WEBAUTHN_HELPER_CLASS = "authn.mfa.webauthn.MicroWebAuthnHelper"
# The browser's time limit for a ceremony, and the server's for its challenge.
OTP_WEBAUTHN_TIMEOUT_SECONDS = 180
# A refused assertion is an expected event (audited), not an error with a traceback.
OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME = ""
OTP_WEBAUTHN_SUPPORTED_COSE_ALGORITHMS = None
# Passwordless sign-in with a discoverable passkey; off, passkeys serve as a second factor only.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = env_bool("MICRO_PASSKEY_SIGN_IN", True)
# Ceremonies begun per client IP and minute (conditional UI begins one on each login page view).
MICRO_PASSKEY_BEGINS_PER_IP = env_int("MICRO_PASSKEY_BEGINS_PER_IP", 60, minimum=1)
# --- Federated sign-in (authn.federation) ---
# How long an identity provider's discovery document (and its JWKS) is trusted before refetching.
MICRO_FEDERATION_DISCOVERY_TTL = env_int("MICRO_FEDERATION_DISCOVERY_TTL", 3600, minimum=0)
# Seconds each call to an identity provider (discovery, JWKS, token, userinfo) may take.
MICRO_FEDERATION_TIMEOUT = env_int("MICRO_FEDERATION_TIMEOUT", 10, minimum=1)
# The largest answer (decoded) read from an identity provider; a larger one is a 502.
MICRO_FEDERATION_MAX_RESPONSE_BYTES = env_int(
    "MICRO_FEDERATION_MAX_RESPONSE_BYTES", 1024 * 1024, minimum=1
)
MICRO_MAX_BODY_BYTES = 1024 * 1024
# When set, /metrics needs `Authorization: Bearer <token>`; unset, it serves private peers only.
MICRO_METRICS_TOKEN = env_str("MICRO_METRICS_TOKEN", "") or ""
# Answers that need no query (the gateway's verify of a JWT) still check that the database
# answered within this many seconds, so they are denied during an outage (docs/reliability.md).
MICRO_DATABASE_CHECK_SECONDS = env_int("MICRO_DATABASE_CHECK_SECONDS", 1, minimum=1)
# How stale a credential check may be: each process answers revocation and API-key checks
# from memory while the shared state generation, read at most this often (milliseconds), is
# unchanged; a revocation or key change elsewhere applies within it. 0: read the shared cache
# on every request (authn/state.py, docs/gateway.md).
MICRO_REVOCATION_POLL_MS = env_int("MICRO_REVOCATION_POLL_MS", 100, minimum=0)
if MICRO_REVOCATION_POLL_MS > 60_000:
    raise ImproperlyConfigured("MICRO_REVOCATION_POLL_MS must be at most 60000 (one minute)")
# The fast path answers a clean gateway verify or public user read ahead of the middleware;
# false sends every request through the whole stack (docs/gateway.md).
MICRO_FAST_PATH = env_bool("MICRO_FAST_PATH", True)
# What answers requests ahead of Django's handler in the WSGI application (micro_platform/
# early.py): the fast path again, for the kinds of request it has learnt.
MICRO_EARLY_ANSWER = "authn.gateway.fast_path.early_response" if MICRO_FAST_PATH else ""
# Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed when they are
# the peer, e.g. "127.0.0.1,::1" for nginx on the same host. Empty: the peer is the client.
MICRO_TRUSTED_PROXIES = env_list("MICRO_TRUSTED_PROXIES", "")
for _proxy in MICRO_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"MICRO_TRUSTED_PROXIES: {_proxy!r} is not an address") from _exc
# How often a process re-reads the signing keys (a rotation elsewhere is seen within this).
MICRO_SIGNING_KEY_REFRESH_SECONDS = env_int("MICRO_SIGNING_KEY_REFRESH_SECONDS", 30, minimum=1)

# simplejwt's token classes and backend issue and check tokens; authn.services.jwt adds the keys.
SIMPLE_JWT = {
    "ALGORITHM": contract.ALGORITHM,
    "AUDIENCE": MICRO_TOKEN_AUDIENCE,
    "ISSUER": MICRO_ISSUER,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "LEEWAY": 0,
    "UPDATE_LAST_LOGIN": False,
}

# --- OAuth 2.0 / OpenID Connect (django-oauth-toolkit under /o/, wired in authn.oauth) ---
# The toolkit's models are swappable; a foreign key to one (authn.OAuthCodeUse) needs the
# setting to exist for migrations. These are the toolkit's own models, not swapped.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105 - a model
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": MICRO_ISSUER,
    # django-oauth-toolkit signs ID tokens and publishes a JWKS from this setting; authn.oauth
    # signs and publishes with the service's own rotating keys instead (one key set for every
    # token), so the toolkit only ever tests this value for truthiness (to allow RS256 clients).
    "OIDC_RSA_PRIVATE_KEY": "managed by authn.tokens.signing_keys",
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": True,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS": False,
    "OAUTH2_VALIDATOR_CLASS": "authn.oauth.validators.MicroOAuth2Validator",
    # Generated client secrets are stored as salted SHA-256 (authn.oauth.hashers explains).
    "CLIENT_SECRET_HASHER": "micro_secret_sha256",
    "ACCESS_TOKEN_GENERATOR": "authn.oauth.tokens.access_token_generator",
    # Without this oauthlib would use the access-token generator for refresh tokens too.
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": MICRO_ACCESS_TOKEN_TTL,
    "REFRESH_TOKEN_EXPIRE_SECONDS": MICRO_REFRESH_TOKEN_TTL,
    "ID_TOKEN_EXPIRE_SECONDS": 3600,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    # The scopes a client may ask for are the service's catalogue (micro_platform.scopes).
    "SCOPES_BACKEND_CLASS": "authn.oauth.scopes.CatalogueScopes",
    # The toolkit checks only the scheme. `http` is here for native apps' loopback redirects
    # (RFC 8252 §7.3: http://127.0.0.1:<port>/...); authn.oauth.redirect_uris narrows it to
    # loopback IP addresses at every registration path and again at request time.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],
    "REQUEST_APPROVAL_PROMPT": "auto",
    "OAUTH_DEVICE_VERIFICATION_URI": f"{MICRO_ISSUER}/o/device/",
    "OAUTH_DEVICE_VERIFICATION_URI_COMPLETE": f"{MICRO_ISSUER}/o/device/?user_code={{user_code}}",
    "DEVICE_FLOW_INTERVAL": 5,
    # Unambiguous letters, shown grouped (WDJB-MJHT); entry ignores case and separators.
    "OAUTH_DEVICE_USER_CODE_GENERATOR": user_code_generate,
    # RFC 9700 (OAuth 2.0 Security BCP): every gate on but the redirect URI scheme's (below).
    # No implicit or password grant, S256 PKCE only, no tokens in query strings, `iss` in
    # authorization responses, only hashes of access and refresh tokens stored, and deploy
    # checks that fail on weaker settings.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    # Off, with its deploy warning silenced below: the toolkit's gate refuses `http` for every
    # host, loopback included, which would shut out native apps. The service's own rule
    # (authn.oauth.redirect_uris) is stricter than RFC 9700 §2.1 asks for the other hosts.
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": False,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
# The toolkit's warning that `http` redirect URIs are allowed at all (the scheme gate above is
# off on purpose); which http URIs are allowed is the service's rule, tested in the suite.
# otp_webauthn.E030 (no allowed origins) is the passkeys-off case, reported as micro.W010.
SILENCED_SYSTEM_CHECKS = [
    "oauth2_provider.W008",
    *([] if MICRO_PASSKEYS_ENABLED else ["otp_webauthn.E030"]),
]

# --- Ports between apps (docs/architecture.md) ---------------------------------
# Accounts ends and consults a user's credentials through this module (accounts.ports).
MICRO_CREDENTIALS_BACKEND = "authn.account_port"
# Permissions learns a user's groups through this function (permissions.ports).
MICRO_GROUP_RESOLVER = "accounts.selectors.group_ids_of_user"
# Who holds scope names besides roles: asked before a scope is deleted (permissions.ports).
MICRO_SCOPE_HOLDERS = ("accounts.scope_holders", "authn.scope_holders")

# --- Sessions and cookies ---------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_AGE = MICRO_SESSION_TTL
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
# Only a SHA-256 of each session key is stored, with owner and client for the security page.
SESSION_ENGINE = "authn.sessions.store"
# Outside debug, cookies are Secure and carry the __Host- prefix (bound to this exact host).
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_NAME = "sessionid" if DEBUG else "__Host-sessionid"
CSRF_COOKIE_NAME = "csrftoken" if DEBUG else "__Host-csrftoken"

# --- HTTP hardening -----------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# django-csp: same-origin everything, no inline script, never framed. The QR code is an
# `data:` SVG image; the admin's own inline styles are cosmetic and stay blocked.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# Health probes come over plain HTTP from the orchestrator, inside the TLS boundary.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
DATA_UPLOAD_MAX_MEMORY_SIZE = MICRO_MAX_BODY_BYTES

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "authn.api_keys.authentication.ApiKeyAuthentication",
        "authn.tokens.authentication.BearerTokenAuthentication",
        "authn.sessions.authentication.SessionPrincipalAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["micro_platform.scope_checks.HasRequiredScopes"],
    "DEFAULT_PARSER_CLASSES": ["micro_platform.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "micro_platform.negotiation.ShortcutContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "micro_platform.pagination.CursorPage",
    # No OPTIONS metadata: it would describe write bodies to unauthenticated callers.
    "DEFAULT_METADATA_CLASS": None,
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "micro_platform.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "micro_platform.openapi.MicroAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Micro User Service API",
    "DESCRIPTION": (
        "Identity, public user info and authorization for microservice platforms. "
        "Access tokens are RS256 JWTs verifiable offline against `/.well-known/jwks.json`. "
        "Errors are RFC 9457 problem details."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # The OAuth 2.0 endpoints under /o/ are not DRF views: written out in the schema.
        "micro_platform.openapi_oauth.add_oauth_endpoints",
    ],
}

# --- Static files, i18n -------------------------------------------------------
STATIC_URL = "/static/"
# Where `collectstatic` writes (the production settings serve the hashed copies from there).
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")) or VAR_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Email: the console unless EMAIL_URL names an SMTP server ------------------
_EMAIL = env_email("EMAIL_URL")
EMAIL_BACKEND = _EMAIL.backend
EMAIL_HOST, EMAIL_PORT, EMAIL_TIMEOUT = _EMAIL.host, _EMAIL.port, _EMAIL.timeout
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _EMAIL.user, _EMAIL.password
EMAIL_USE_TLS, EMAIL_USE_SSL = _EMAIL.use_tls, _EMAIL.use_ssl
DEFAULT_FROM_EMAIL = env_str("MICRO_EMAIL_FROM", "Micro <no-reply@localhost>")
# Emails leave through a small background pool after commit, so a slow SMTP server neither
# holds a request nor makes "this address has an account" measurable by response time.
MICRO_EMAIL_SEND_INLINE = False
# Password-reset links (Django's token generator) expire after an hour.
PASSWORD_RESET_TIMEOUT = 60 * 60

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
