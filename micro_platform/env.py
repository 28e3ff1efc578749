"""The one place that reads the process environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {number}")
    return number


def env_list(name: str, default: str) -> list[str]:
    raw = env_str(name, default) or ""
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class EmailConfig:
    """Django's EMAIL_* settings as one value (see `env_email`)."""

    backend: str
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    timeout: int = 10


CONSOLE_EMAIL = EmailConfig(backend="django.core.mail.backends.console.EmailBackend")
_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
_EMAIL_QUERY_KEYS = frozenset({"tls", "ssl", "timeout"})


def env_email(name: str) -> EmailConfig:
    """The email transport named by a URL: unset → console; `smtp://` or `smtps://` → SMTP.

    Hand-written on `urllib.parse`: dj-email-url has had no release since 2022 and accepts
    unknown schemes and options quietly, and django-environ would be a second env reader.
    Anything unrecognised stops start-up, so a typo never silently drops every email.
    """
    raw = env_str(name)
    if raw is None:
        return CONSOLE_EMAIL
    url = urlsplit(raw)
    if url.scheme == "console":
        return CONSOLE_EMAIL
    if url.scheme not in {"smtp", "smtps"}:
        raise ImproperlyConfigured(f"{name}: unsupported scheme {url.scheme!r} (smtp, smtps)")
    options = _email_options(name, url.query)
    implicit_tls = url.scheme == "smtps" or options.get("ssl") == "true"
    if implicit_tls and options.get("tls") == "true":
        raise ImproperlyConfigured(f"{name}: use either STARTTLS (tls) or implicit TLS (ssl)")
    try:
        port = url.port or (465 if implicit_tls else 25)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: invalid port") from exc
    if not url.hostname:
        raise ImproperlyConfigured(f"{name}: a host is required")
    return EmailConfig(
        backend=_SMTP_BACKEND,
        host=url.hostname,
        port=port,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        use_tls=options.get("tls") == "true",
        use_ssl=implicit_tls,
        timeout=int(options.get("timeout", "10")),
    )


def _email_options(name: str, query: str) -> dict[str, str]:
    options = {key: value.lower() for key, value in parse_qsl(query, keep_blank_values=True)}
    unknown = set(options) - _EMAIL_QUERY_KEYS
    if unknown:
        raise ImproperlyConfigured(f"{name}: unknown option(s) {sorted(unknown)}")
    for flag in ("tls", "ssl"):
        if options.get(flag, "false") not in {"true", "false"}:
            raise ImproperlyConfigured(f"{name}: {flag} must be true or false")
    if not options.get("timeout", "10").isdigit() or int(options.get("timeout", "10")) < 1:
        raise ImproperlyConfigured(f"{name}: timeout must be a positive number of seconds")
    return options
