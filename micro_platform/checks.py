"""System checks the service needs before it serves, and their run at server start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from django.apps import apps
from django.conf import STATICFILES_STORAGE_ALIAS, settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

COLLECT = "run `manage.py collectstatic --noinput` for this release (deploy/start does)"


@checks.register(checks.Tags.staticfiles, deploy=True)
def static_manifest_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Under a manifest storage, every static file has a hashed copy listed in the manifest.

    A page naming a file the manifest lacks would fail with a 500 at request time; this check
    makes it a start-up failure instead (`check --deploy`, and `server_start_checks`).
    """
    backend = import_string(settings.STORAGES[STATICFILES_STORAGE_ALIAS]["BACKEND"])
    if not issubclass(backend, ManifestFilesMixin):
        return []
    manifest: dict[str, str]
    try:
        # (paths, hash) since Django 4.2; the stubs still say a string.
        manifest, _ = cast(Any, staticfiles_storage).load_manifest()
    except ValueError:  # not JSON, or a version Django does not read (also raised on setup)
        manifest = {}
    if not manifest:
        return [
            checks.Error(
                f"No readable static file manifest in STATIC_ROOT ({settings.STATIC_ROOT}).",
                hint=f"The pages and the API reference need it: {COLLECT}.",
                id="micro.E001",
            )
        ]
    missing = sorted(set(_static_paths()) - set(manifest))
    if missing:
        return [
            checks.Error(
                f"{len(missing)} static file(s) are missing from the manifest in STATIC_ROOT "
                f"({settings.STATIC_ROOT}), e.g. {missing[0]!r}.",
                hint=f"The collected files are from another release: {COLLECT}.",
                id="micro.E002",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def passkeys_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Says when the issuer rules passkeys out (an IP address or plain http off localhost)."""
    if settings.MICRO_PASSKEYS_ENABLED:
        return []
    return [
        checks.Warning(
            f"Passkeys are off: the issuer {settings.MICRO_ISSUER!r} cannot be a WebAuthn"
            " relying party (an IP address, or http on a host other than localhost).",
            hint="Serve on https with a domain name, or use http://localhost:8000 in development.",
            id="micro.W010",
        )
    ]


def _static_paths() -> Iterator[str]:
    """Every path `collectstatic` would collect, with its own ignore patterns."""
    ignore = list(apps.get_app_config("staticfiles").ignore_patterns)  # type: ignore[attr-defined]
    for finder in get_finders():
        for path, _ in finder.list(ignore):
            yield path.replace("\\", "/")


def server_start_checks() -> None:
    """Refuses to start a server (WSGI or ASGI) that would fail requests for want of a file.

    Raises ImproperlyConfigured, which stops a gunicorn worker from booting (and gunicorn with
    it), with each error and its hint in the message.
    """
    errors = [
        message
        for message in checks.run_checks(
            tags=[checks.Tags.staticfiles], include_deployment_checks=True
        )
        if message.is_serious()
    ]
    if errors:
        raise ImproperlyConfigured(
            "The service cannot start:\n" + "\n".join(f"  {message}" for message in errors)
        )
