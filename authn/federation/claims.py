"""What a verified upstream sign-in says about the person, read through the provider's claim
mapping (standard OpenID Connect claim names by default)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authn.models import IdentityProvider

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
    """The mapped facts of verified ID token (and userinfo) claims."""
    mapping = {**DEFAULT_CLAIMS, **(provider.claim_mapping or {})}

    def text(name: str) -> str:
        value = claims.get(mapping[name])
        return value.strip() if isinstance(value, str) else ""

    groups = claims.get(mapping["groups"])
    amr = claims.get("amr")
    amr_values = tuple(str(v) for v in amr if isinstance(v, str)) if isinstance(amr, list) else ()
    return Upstream(
        slug=provider.slug,
        subject=str(claims["sub"]),
        email=text("email"),
        email_verified=claims.get("email_verified") in (True, "true"),
        username=text("username"),
        display_name=text("display_name"),
        avatar=text("avatar"),
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
        amr=amr_values,
        mfa=bool(MFA_AMR.intersection(amr_values)) or claims.get("acr") in MFA_ACR,
    )
