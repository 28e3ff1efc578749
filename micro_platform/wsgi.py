"""WSGI entry point: `gunicorn micro_platform.wsgi` runs the production settings by default."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "micro_platform.settings.production")

application = get_wsgi_application()
