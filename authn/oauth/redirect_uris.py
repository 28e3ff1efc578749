"""Which redirect URIs an OAuth 2.0 client may register and be sent to.

One rule, in every environment: `https` to any host, or `http` to a loopback IP literal
(`127.0.0.0/8` or `[::1]`, any port or none) for native apps and command-line tools that
receive the code on the user's own machine (RFC 8252 §7.3, RFC 9700 §2.1). Never
`http://localhost` (a name that DNS or the hosts file may send elsewhere) or any other host,
never a user name or password in the authority, never a fragment.

The toolkit only knows schemes, so `http` is on its list (OAUTH2_PROVIDER
["ALLOWED_REDIRECT_URI_SCHEMES"]) and this rule narrows it at every path that stores a client
(the dashboard, the admin, `createapplication`, and a pre-save check on the model for any
other) and again when a request names a redirect URI, in case a row was written some other
way. At request time the toolkit accepts any port for a registered `http://127.0.0.1/...` or
`http://[::1]/...` and matches every other part exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

# The fields of a client holding redirect targets, whitespace-separated.
URI_FIELDS = ("redirect_uris", "post_logout_redirect_uris")

_LOOPBACK_V4 = ip_network("127.0.0.0/8")
_LOOPBACK_V6 = IPv6Address("::1")


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` may not be a redirect URI here, or None when it may: https to any host,
    http only to a loopback IP literal, never userinfo or a fragment."""
    if not uri.isprintable() or any(char.isspace() for char in uri):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return "is not a valid URI"
    if "#" in uri:
        return "must not have a fragment"
    if "@" in parts.netloc:
        return "must not carry a user name or password"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an https URI with a host"
    if parts.scheme == "http" and not _is_loopback_literal(parts.netloc, parts.hostname):
        return (
            "may use http only with a loopback IP address (http://127.0.0.1/... or "
            "http://[::1]/...); use https for every other host"
        )
    return None


def _is_loopback_literal(netloc: str, hostname: str) -> bool:
    """The host is written as a loopback IP address (IPv4 without brackets, IPv6 in them)."""
    try:
        address = ip_address(hostname)
    except ValueError:
        return False  # a name, such as localhost, or a non-canonical number such as 127.1
    if isinstance(address, IPv4Address):
        return address in _LOOPBACK_V4 and str(address) == hostname and "[" not in netloc
    return address == _LOOPBACK_V6  # the zone of a scoped address makes it unequal


def redirect_uris_problems(value: str) -> list[str]:
    """One message per whitespace-separated URI in `value` that the rule refuses."""
    return [f"{uri}: {problem}" for uri in value.split() if (problem := redirect_uri_problem(uri))]


def application_uri_errors(application: Any, *, fields: Iterable[str] = URI_FIELDS) -> dict:
    """The rule's refusals for a client's redirect fields, keyed by field (empty when none)."""
    errors = {}
    for field in fields:
        problems = redirect_uris_problems(getattr(application, field, "") or "")
        if problems:
            errors[field] = problems
    return errors


def application_full_clean(application: Any, *, exclude: Iterable[str] | None = None) -> None:
    """The model's own validation and the redirect URI rule, as one ValidationError by field."""
    errors: dict[str, list[Any]] = {}
    try:
        application.full_clean(exclude=exclude)
    except ValidationError as exc:
        errors = {field: list(messages) for field, messages in exc.message_dict.items()}
    for field, problems in application_uri_errors(application).items():
        errors.setdefault(field, []).extend(problems)
    if errors:
        raise ValidationError(errors)
