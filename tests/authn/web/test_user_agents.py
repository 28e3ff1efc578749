"""User-agent strings named as people know their browsers, and times with their zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from authn.templatetags.dashboard import browser, timestamp
from authn.web.user_agents import browser_description

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"


@pytest.mark.parametrize(
    ("user_agent", "named"),
    [
        (CHROME_LINUX, "Chrome on Linux"),
        (SAFARI_IPHONE, "Mobile Safari on iOS"),
        (FIREFOX_WINDOWS, "Firefox on Windows"),
        ("curl/8.5.0", "curl"),
        ("", "Unknown browser"),
        ("   ", "Unknown browser"),
        ("no such agent", "Unknown browser"),
    ],
)
def test_browser_description_names_browser_and_system(user_agent: str, named: str) -> None:
    assert browser_description(user_agent) == named


def test_browser_filter_takes_a_missing_agent() -> None:
    assert browser(None) == "Unknown browser"


def test_timestamp_names_the_zone_and_carries_the_instant() -> None:
    html = timestamp(datetime(2026, 12, 5, 18, 10, 42, tzinfo=UTC))
    assert html == (
        '<time datetime="2026-12-05T18:10:42+00:00" data-local-time>2026-12-05 18:10 UTC</time>'
    )
    assert timestamp(None) == "—"
