"""What a verified upstream sign-in says about the person, read through the provider's claim
mapping (standard OpenID Connect claim names by default)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from authn.federation.errors import FederationRefused
from authn.models import IdentityProvider

# Bounds on what an upstream may put in the session and in our tokens.
MAX_AMR_VALUES = 8
MAX_AMR_LENGTH = 32
MAX_SUBJECT_LENGTH = 255
MAX_GROUPS = 200
_email_validator = EmailValidator()

DEFAULT_CLAIMS = {
    "username": "preferred_username",
    "email": "email",
    "display_name": "name",
    "avatar": "picture",
    "groups": "groups",
}
# `amr` values (RFC 8176) that mean more than one factor was used upstream.
MFA_AMR = frozenset(
    {"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "retina", "sc", "tel", "vbm", "pop"}
)
# `acr` values that mean multi-factor: the REFEDS MFA profile and Entra ID / Keycloak style names.
MFA_ACR = frozenset(
    {
        "https://refeds.org/profile/mfa",
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
        "mfa",
    }
)


@dataclass(frozen=True, slots=True)
class Upstream:
    """The verified facts of one upstream sign-in."""

    slug: str
    subject: str
    email: str
    email_verified: bool
    username: str
    display_name: str
    avatar: str
    groups: tuple[str, ...]
    amr: tuple[str, ...]
    mfa: bool = field(default=False)

    def as_session(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_session(cls, data: Any) -> Upstream | None:
        try:
            values = dict(data)
            values["groups"] = tuple(values["groups"])
            values["amr"] = tuple(values["amr"])
            return cls(**values)
        except (TypeError, ValueError, KeyError):
            return None


def upstream_from_claims(provider: IdentityProvider, claims: dict[str, Any]) -> Upstream:
    """The mapped facts of verified ID token (and userinfo) claims; refuses a `sub` that
    cannot be stored, drops an email that is not one, and bounds what the upstream may add."""
    configured = provider.claim_mapping if isinstance(provider.claim_mapping, dict) else {}
    mapping = {**DEFAULT_CLAIMS}
    mapping.update({k: v for k, v in configured.items() if k in mapping and isinstance(v, str)})

    def text(name: str) -> str:
        value = claims.get(mapping[name])
        return value.strip() if isinstance(value, str) else ""

    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise FederationRefused("invalid_id_token", "The ID token names no usable subject.")
    email = _valid_email(text("email"))
    amr = _strings(claims.get("amr"))[:MAX_AMR_VALUES]
    amr_values = tuple(value for value in amr if len(value) <= MAX_AMR_LENGTH)
    return Upstream(
        slug=provider.slug,
        subject=subject,
        email=email,
        email_verified=bool(email) and claims.get("email_verified") in (True, "true"),
        username=text("username"),
        display_name=text("display_name")[:150],
        avatar=text("avatar"),
        groups=_strings(claims.get(mapping["groups"]))[:MAX_GROUPS],
        amr=amr_values,
        mfa=bool(MFA_AMR.intersection(amr_values)) or claims.get("acr") in MFA_ACR,
    )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _valid_email(value: str) -> str:
    if len(value) > 254:
        return ""
    try:
        _email_validator(value)
    except ValidationError:
        return ""
    return value
