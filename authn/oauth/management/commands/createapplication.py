"""createapplication CLIENT_TYPE GRANT_TYPE [--redirect-uris "URI ..."] ... (the toolkit's).

The toolkit's arguments and output, with two differences: a refused application (a field the
model refuses, or a redirect URI outside https and http to a loopback IP address) exits
non-zero with the reasons on stderr, where the toolkit's printed them and exited 0; and the new
client gets the same `oauth_client.created` audit event as one registered in the dashboard.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from oauth2_provider.management.commands import createapplication
from oauth2_provider.models import get_application_model

from authn.oauth.services import oauth_client_create

Application = get_application_model()


class Command(createapplication.Command):
    help = (
        "Create an OAuth 2.0 application. Redirect URIs must be https, or http to a loopback "
        "IP address (http://127.0.0.1/... or http://[::1]/..., any port at request time); "
        "a refused application exits non-zero."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        fields = _application_fields(options)
        application = Application(**fields)
        cleartext_secret = application.client_secret  # generated unless given; hashed on save
        try:
            oauth_client_create(application=application, actor=None)
        except ValidationError as exc:
            raise CommandError(_refusal(exc)) from exc
        name_or_id = fields.get("name", application.client_id)
        self.stdout.write(self.style.SUCCESS(f"New application {name_or_id} created successfully."))
        if "client_secret" not in fields:
            self.stdout.write(self.style.SUCCESS(f"client_secret: {cleartext_secret}"))


def _application_fields(options: dict[str, Any]) -> dict[str, Any]:
    """The options naming a model field, as the toolkit's command reads them: values left out
    (None, empty) so the model's defaults apply, and --user as the owner's id."""
    names = {field.name for field in Application._meta.fields}
    fields: dict[str, Any] = {}
    for key, value in options.items():
        if key in names and (isinstance(value, bool) or value):
            fields["user_id" if key == "user" else key] = value
    return fields


def _refusal(exc: ValidationError) -> str:
    """Every reason, one per line, as the toolkit's command printed them."""
    reasons = [
        f"- {field}: {message}"
        for field, messages in exc.message_dict.items()
        for message in messages
    ]
    return "\n".join(["Application refused:", *reasons])
