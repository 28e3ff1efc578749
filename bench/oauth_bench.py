"""Scenario P6: `POST /o/token/` with `grant_type=client_credentials` (hooked into bench/run.py).

Run as a script (by run.py, in a subprocess with the bench database in the environment), it
(re)creates the confidential client the scenario uses: the service account `bench-oauth`
holding `users:read`, with a client-credentials client, through `createserviceaccount NAME
--scope users:read --oauth-client --json`, exactly as an operator would. The previous run's
account (and with it its client and tokens) is deleted first, so the secret, which is shown
only once, is always known. Prints the command's JSON line.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from typing import Any

import django

ACCOUNT = "bench-oauth"
SCOPE = "users:read"
TOKEN_PATH = "/o/token/"
FORM = "application/x-www-form-urlencoded"


def token_request(client: dict[str, Any]) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(path, body, headers) of one token request: HTTP Basic client authentication (RFC 6749
    2.3.1), the way OAuth libraries send it."""
    pair = f"{client['client_id']}:{client['client_secret']}".encode()
    headers = (
        ("Content-Type", FORM),
        ("Authorization", "Basic " + base64.b64encode(pair).decode()),
    )
    return TOKEN_PATH, f"grant_type=client_credentials&scope={SCOPE}", headers


LABEL = f"POST {TOKEN_PATH} (client_credentials)"


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from accounts.models import User

    User.objects.filter(username=ACCOUNT).delete()  # the last run's account, client and tokens
    out = io.StringIO()
    command = ["createserviceaccount", ACCOUNT, "--scope", SCOPE, "--oauth-client", "--json"]
    call_command(*command, stdout=out)
    line = out.getvalue().strip().splitlines()[-1]
    json.loads(line)  # the command's output must be one JSON object
    sys.stdout.write(line + "\n")


if __name__ == "__main__":
    main()
