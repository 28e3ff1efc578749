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
# `amr` values (RFC 8176) by the kind of factor they prove. One value alone is one factor
# (an emailed one-time code is `otp` and nothing else): the upstream proved MFA when its `amr`
# says `mfa`, or names factors of two different kinds (a password and a security key).
KNOWLEDGE_AMR = frozenset({"pwd", "pin", "kba"})
POSSESSION_AMR = frozenset({"otp", "hwk", "swk", "sms", "tel", "sc", "pop"})
INHERENCE_AMR = frozenset({"fpt", "face", "iris", "retina", "vbm"})
MFA_AMR_KINDS = (KNOWLEDGE_AMR, POSSESSION_AMR, INHERENCE_AMR)
# `acr` values that are defined to mean multi-factor: the REFEDS MFA profile and OpenID PAPE's
# multi-factor policy. Numbered levels (Keycloak's LoA, Entra's "1"/"2") mean what each
# deployment configures, so they do not count; such a provider can send `amr` instead.
MFA_ACR = frozenset(
    {
        "https://refeds.org/profile/mfa",
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
    }
)


def proves_mfa(amr: tuple[str, ...], acr: Any) -> bool:
    """Whether an upstream's `amr`/`acr` says the person passed more than one factor."""
    if "mfa" in amr or (isinstance(acr, str) and acr in MFA_ACR):
        return True
    return sum(1 for kind in MFA_AMR_KINDS if kind.intersection(amr)) >= 2


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
        mfa=proves_mfa(amr_values, claims.get("acr")),
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
