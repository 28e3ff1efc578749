"""ASGI entry point, for servers that prefer it; same defaults as wsgi."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "micro_platform.settings.production")

application = get_asgi_application()

# A missing or stale static manifest fails here, at start-up, not as a 500 per request.
from micro_platform.checks import server_start_checks  # noqa: E402 - needs the settings

server_start_checks()
