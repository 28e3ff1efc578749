"""WSGI entry point: `gunicorn micro_platform.wsgi` runs the production settings by default."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "micro_platform.settings.production")

django_application = get_wsgi_application()

# The modules below need the settings.
from micro_platform.checks import server_start_checks  # noqa: E402
from micro_platform.early import EarlyAnswerApplication  # noqa: E402

# Django's handler behind the early answers (micro_platform/early.py): the gateway's fast
# path answers a clean verify or public user read before the handler runs.
application = EarlyAnswerApplication(django_application)

# A missing or stale static manifest fails here, at start-up, not as a 500 per request.
server_start_checks()
