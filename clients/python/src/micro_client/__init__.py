"""Verifying Micro access tokens (and, behind the gateway, its upstream tokens) in another
Python service, offline (docs/downstream.md).

Install it (`pip install micro-client`, with `[drf]` for the Django REST framework classes)
or copy this package into your service: `contract` imports nothing, `verifier` needs only
PyJWT (with `cryptography`), `drf` adds Django REST framework and is imported only by name
(`micro_client.drf`), so importing the package never imports Django.
"""

from .introspection import IntrospectionUnavailable, Introspector
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

__version__ = "0.1.0"

__all__ = [
    "InsecureUrl",
    "IntrospectionUnavailable",
    "Introspector",
    "InvalidToken",
    "JwksCache",
    "KeysUnavailable",
    "MicroPrincipal",
    "TokenVerifier",
    "UpstreamTokenVerifier",
    "principal_from_claims",
]
