"""EMAIL_URL: console by default, SMTP by URL, anything unknown refused at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from micro_platform.env import CONSOLE_EMAIL, env_email

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def email_url(monkeypatch: pytest.MonkeyPatch):
    def set_url(value: str | None):
        if value is None:
            monkeypatch.delenv("EMAIL_URL", raising=False)
        else:
            monkeypatch.setenv("EMAIL_URL", value)
        return env_email("EMAIL_URL")

    return set_url


def test_unset_or_empty_is_the_console(email_url):
    assert email_url(None) == CONSOLE_EMAIL
    assert email_url("") == CONSOLE_EMAIL
    assert email_url("console://") == CONSOLE_EMAIL


def test_smtp_with_starttls_and_escaped_credentials(email_url):
    config = email_url("smtp://mailer%40example.com:p%40ss%2Fword@mail.example.com:587?tls=true")

    assert config.backend == SMTP
    assert (config.host, config.port) == ("mail.example.com", 587)
    assert (config.user, config.password) == ("mailer@example.com", "p@ss/word")
    assert (config.use_tls, config.use_ssl) == (True, False)
    assert config.timeout == 10


def test_smtps_is_implicit_tls_on_465_by_default(email_url):
    config = email_url("smtps://user:secret@mail.example.com")

    assert (config.port, config.use_ssl, config.use_tls) == (465, True, False)


def test_plain_smtp_defaults_to_port_25_and_takes_a_timeout(email_url):
    config = email_url("smtp://relay.internal?timeout=3")

    assert (config.host, config.port, config.user, config.password) == (
        "relay.internal",
        25,
        "",
        "",
    )
    assert config.timeout == 3


@pytest.mark.parametrize(
    "url",
    [
        "smtpx://mail.example.com",  # unknown scheme
        "http://mail.example.com",
        "sendgrid://key@api",
        "smtp://mail.example.com?tls=yes",  # flags are true/false
        "smtp://mail.example.com?starttls=true",  # unknown option
        "smtps://mail.example.com?tls=true",  # implicit TLS and STARTTLS together
        "smtp://mail.example.com?tls=true&ssl=true",
        "smtp://mail.example.com?timeout=0",
        "smtp://mail.example.com?timeout=soon",
        "smtp://mail.example.com:99999",  # port out of range
        "smtp://:587",  # no host
    ],
)
def test_anything_unrecognised_is_refused_loudly(email_url, url):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        email_url(url)


def test_settings_refuse_to_load_with_an_unknown_scheme():
    """Start-up itself fails: a typo never silently drops every email."""
    env = {"DJANGO_SETTINGS_MODULE": "micro_platform.settings.test", "EMAIL_URL": "smpt://x"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "EMAIL_URL: unsupported scheme 'smpt'" in result.stderr


def test_settings_map_the_url_onto_djangos_email_settings(monkeypatch):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_SSL, s.DEFAULT_FROM_EMAIL)"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "micro_platform.settings.base",
        "DJANGO_SECRET_KEY": "x" * 50,
        "EMAIL_URL": "smtps://u:p@mail.example.com",
        "MICRO_EMAIL_FROM": "Accounts <accounts@example.com>",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        SMTP,
        "mail.example.com",
        "465",
        "True",
        "Accounts",
        "<accounts@example.com>",
    ]
