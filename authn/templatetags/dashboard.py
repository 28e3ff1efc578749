"""Dashboard template filters: browsers by name, times with their zone, sign-in methods by
name; whether the signed-in user may open the admin console."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.models import User
from accounts.selectors import user_held_scopes
from authn.web.user_agents import browser_description
from micro_platform.identity import Principal
from micro_platform.scopes import API_ADMIN

register = template.Library()

# What each `amr` value (RFC 8176) this service records means, in the page's words.
AMR_LABELS = {
    "pwd": "password",
    "otp": "code",
    "hwk": "security key",
    "swk": "synced passkey",
    "user": "verified",
    "fed": "provider",
    "mfa": "MFA",
}


@register.filter
def browser(user_agent: str | None) -> str:
    """A raw User-Agent header as "Chrome on Linux" ("Unknown browser" for none)."""
    return browser_description(user_agent or "")


@register.filter
def amr_label(amr: Any) -> str:
    """Sign-in methods by name: one `amr` value, or a list of them joined with " + "
    ("password + security key + verified + MFA"); "—" for none. Values it does not know
    (another provider's) are left out rather than shown raw."""
    values = [amr] if isinstance(amr, str) else amr if isinstance(amr, list | tuple) else []
    labels = [
        AMR_LABELS[value] for value in values if isinstance(value, str) and value in AMR_LABELS
    ]
    return " + ".join(dict.fromkeys(labels)) or "—"


@register.filter
def timestamp(value: datetime | None) -> SafeString | str:
    """A `<time>` in the server's zone, named ("2026-12-05 18:10 UTC"); dashboard.js rewrites
    it in the browser's own zone, with that zone's name."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" data-local-time>{}</time>',
        value.isoformat(),
        local.strftime("%Y-%m-%d %H:%M %Z"),
    )


@register.simple_tag(takes_context=True)
def holds_api_admin(context: dict[str, Any]) -> bool:
    """Whether the signed-in user holds `api_admin` now (the console checks it again)."""
    request = context.get("request")
    # A view that built the principal already read the user's groups and roles: reuse it.
    principal = getattr(request, "micro_principal", None)
    if isinstance(principal, Principal):
        return principal.is_admin
    user = getattr(request, "user", None)
    return isinstance(user, User) and API_ADMIN in user_held_scopes(user=user)
