"""The static-manifest check: a start-up failure instead of a 500 per page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from micro_platform.checks import _static_paths, server_start_checks, static_manifest_check

MANIFEST_STORAGE = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


@pytest.fixture
def static_root(tmp_path: Path) -> Iterator[Path]:
    with override_settings(STORAGES=MANIFEST_STORAGE, STATIC_ROOT=tmp_path):
        yield tmp_path


def write_manifest(root: Path, paths: list[str]) -> None:
    manifest = {"version": "1.1", "hash": "x", "paths": {path: path for path in paths}}
    (root / "staticfiles.json").write_text(json.dumps(manifest))


def ids() -> list[str]:
    return [str(message.id) for message in static_manifest_check()]


def test_no_manifest_is_an_error_naming_collectstatic(static_root: Path) -> None:
    (message,) = static_manifest_check()
    assert message.id == "micro.E001" and message.is_serious()
    assert str(static_root) in message.msg and "collectstatic --noinput" in str(message.hint)


def test_an_unreadable_manifest_is_the_same_error(static_root: Path) -> None:
    (static_root / "staticfiles.json").write_text("not json")
    assert ids() == ["micro.E001"]


def test_a_manifest_from_another_release_is_an_error(static_root: Path) -> None:
    paths = sorted(_static_paths())
    assert "micro/site.css" in paths
    write_manifest(static_root, [path for path in paths if path != "micro/site.css"])
    (message,) = static_manifest_check()
    assert message.id == "micro.E002" and "'micro/site.css'" in message.msg


def test_a_complete_manifest_passes(static_root: Path) -> None:
    write_manifest(static_root, sorted(_static_paths()))
    assert ids() == []
    server_start_checks()


def test_the_server_start_refuses_without_a_manifest(static_root: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"micro\.E001"):
        server_start_checks()


def test_storage_without_a_manifest_is_not_checked() -> None:
    assert ids() == []  # the test settings' plain storage, like `make run`
