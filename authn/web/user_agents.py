"""User-agent strings as people name their browsers: "Chrome on Linux"."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse

UNKNOWN = "Unknown browser"


@lru_cache(maxsize=512)
def browser_description(user_agent: str) -> str:
    """The browser and system a User-Agent header names, as in "Firefox on Windows" or
    "Mobile Safari on iOS" ("curl" for a tool). The rules come from ua-parser-builtins,
    updated with the browsers; cached, since a user's few agents recur on every page."""
    result = parse(user_agent.strip()) if user_agent.strip() else None
    browser = result.user_agent.family if result and result.user_agent else ""
    system = result.os.family if result and result.os else ""
    if browser and browser != "Other":
        return f"{browser} on {system}" if system and system != "Other" else browser
    return f"Unknown browser on {system}" if system and system != "Other" else UNKNOWN
