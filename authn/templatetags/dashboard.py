"""Dashboard template filters: browsers by name, times with their zone."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from authn.web.user_agents import browser_description

register = template.Library()


@register.filter
def browser(user_agent: str | None) -> str:
    """A raw User-Agent header as "Chrome on Linux" ("Unknown browser" for none)."""
    return browser_description(user_agent or "")


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
