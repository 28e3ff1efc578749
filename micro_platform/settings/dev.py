"""Local development: `make run` (DJANGO_DEBUG=true, embedded SQLite under var/)."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
if os.environ["DJANGO_DEBUG"].lower() in {"1", "true", "yes", "on"}:
    # A development-only key; production refuses to start without DJANGO_SECRET_KEY.
    os.environ.setdefault("DJANGO_SECRET_KEY", "dev-only-insecure-key-never-use-in-production")

from micro_platform.settings.base import *  # noqa: F403
