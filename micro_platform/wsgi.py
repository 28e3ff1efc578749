"""WSGI entry point: `gunicorn micro_platform.wsgi` runs the production settings by default."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "micro_platform.settings.production")

application = get_wsgi_application()

# A missing or stale static manifest fails here, at start-up, not as a 500 per request.
from micro_platform.checks import server_start_checks  # noqa: E402 - needs the settings

server_start_checks()
