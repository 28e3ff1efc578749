"""Settings modules: secure defaults and the environment contract."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_settings(module: str, env: dict[str, str], expr: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MICRO_"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("REDIS_URL", None)
    code = (
        "import django, os\n"
        f"os.environ['DJANGO_SETTINGS_MODULE'] = {module!r}\n"
        "from django.conf import settings\n"
        f"print({expr})\n"
    )
    return subprocess.run(  # noqa: S603 - fixed interpreter and code
        [sys.executable, "-c", code],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key() -> None:
    result = run_settings("micro_platform.settings.production", {}, "settings.DEBUG")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_production_cookies_are_secure_with_host_prefix() -> None:
    result = run_settings(
        "micro_platform.settings.production",
        {"DJANGO_SECRET_KEY": "x" * 50},
        "settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_NAME, "
        "settings.CSRF_COOKIE_NAME, settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True __Host-sessionid __Host-csrftoken True 31536000"


def test_production_refuses_debug() -> None:
    result = run_settings(
        "micro_platform.settings.production",
        {"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_DEBUG": "true"},
        "settings.DEBUG",
    )
    assert result.returncode != 0
    assert "refuse" in result.stderr


def test_default_cache_is_shared_database_cache_not_process_memory() -> None:
    result = run_settings(
        "micro_platform.settings.production",
        {"DJANGO_SECRET_KEY": "x" * 50},
        "settings.CACHES['default']['BACKEND']",
    )
    # Django's database cache, with a cull the revocation list notices (micro_platform/cache.py).
    assert result.stdout.strip() == "micro_platform.cache.ProtectedCullDatabaseCache"


def test_redis_url_selects_django_redis() -> None:
    result = run_settings(
        "micro_platform.settings.production",
        {"DJANGO_SECRET_KEY": "x" * 50, "REDIS_URL": "redis://127.0.0.1:6379/3"},
        "settings.CACHES['default']['BACKEND']",
    )
    assert result.stdout.strip() == "django_redis.cache.RedisCache"


def test_sqlite_keeps_its_connection_like_postgresql() -> None:
    # Reconnecting (and re-running the WAL PRAGMAs) on every request cost more than the rest
    # of a gateway verify; DJANGO_CONN_MAX_AGE governs SQLite as it does PostgreSQL.
    expr = "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['CONN_MAX_AGE']"
    default = run_settings(
        "micro_platform.settings.production", {"DJANGO_SECRET_KEY": "x" * 50}, expr
    )
    assert default.stdout.strip() == "django.db.backends.sqlite3 60"
    chosen = run_settings(
        "micro_platform.settings.production",
        {"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_CONN_MAX_AGE": "0"},
        expr,
    )
    assert chosen.stdout.strip() == "django.db.backends.sqlite3 0"


def test_argon2_cost_below_owasp_minimum_is_refused() -> None:
    result = run_settings(
        "micro_platform.settings.production",
        {"DJANGO_SECRET_KEY": "x" * 50, "MICRO_ARGON2_MEMORY_KIB": "1024"},
        "settings.MICRO_ARGON2_MEMORY_KIB",
    )
    assert result.returncode != 0
    assert "MICRO_ARGON2_MEMORY_KIB must be >=" in result.stderr


def test_invalid_boolean_is_refused_with_a_clear_message() -> None:
    result = run_settings(
        "micro_platform.settings.production",
        {"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_DEBUG": "maybe"},
        "settings.DEBUG",
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be true or false" in result.stderr


def test_dev_settings_run_in_debug_with_sqlite_under_var() -> None:
    result = run_settings(
        "micro_platform.settings.dev", {}, "settings.DEBUG, settings.DATABASES['default']['NAME']"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True ")
    assert result.stdout.strip().endswith("var/db.sqlite3")


def test_the_upstream_token_audience_defaults_apart_and_may_not_equal_the_access_one() -> None:
    secret = {"DJANGO_SECRET_KEY": "x" * 50}
    module = "micro_platform.settings.production"
    default = run_settings(module, secret, "settings.MICRO_UPSTREAM_TOKEN_AUDIENCE")
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == "micro-upstream"
    same = run_settings(
        module,
        {**secret, "MICRO_TOKEN_AUDIENCE": "api", "MICRO_UPSTREAM_TOKEN_AUDIENCE": "api"},
        "settings.MICRO_UPSTREAM_TOKEN_AUDIENCE",
    )
    assert same.returncode != 0
    assert "MICRO_UPSTREAM_TOKEN_AUDIENCE must differ" in same.stderr


def test_audit_strictness_follows_debug_unless_set() -> None:
    secret = {"DJANGO_SECRET_KEY": "x" * 50}
    production = run_settings(
        "micro_platform.settings.production", secret, "settings.MICRO_AUDIT_STRICT"
    )
    assert production.returncode == 0, production.stderr
    assert production.stdout.strip() == "False"
    dev = run_settings("micro_platform.settings.dev", {}, "settings.MICRO_AUDIT_STRICT")
    assert dev.returncode == 0, dev.stderr
    assert dev.stdout.strip() == "True"
