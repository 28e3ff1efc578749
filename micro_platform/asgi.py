"""ASGI entry point, for servers that prefer it; same defaults as wsgi."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "micro_platform.settings.production")

application = get_asgi_application()
