"""Verifying Micro access tokens (and, behind the gateway, its upstream tokens) in another
Python service, offline (docs/downstream.md).

Import it, or copy this package into your service: `verifier` needs only PyJWT (with
`cryptography`), `drf` adds Django REST framework. Neither imports anything else from Micro.
"""

from .verifier import (
    InsecureUrl,
    InvalidToken,
    JwksCache,
    KeysUnavailable,
    MicroPrincipal,
    TokenVerifier,
    UpstreamTokenVerifier,
    principal_from_claims,
)

__all__ = [
    "InsecureUrl",
    "InvalidToken",
    "JwksCache",
    "KeysUnavailable",
    "MicroPrincipal",
    "TokenVerifier",
    "UpstreamTokenVerifier",
    "principal_from_claims",
]
