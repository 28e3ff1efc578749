"""Shared output of the API-key commands: the key is printed once, to stdout only."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from authn.api_keys.services import MintedKey


def minted_fields(minted: MintedKey) -> dict[str, Any]:
    fields = {
        "id": str(minted.api_key.pk),
        "prefix": minted.api_key.prefix,
        "key": minted.key,
        "scopes": list(minted.api_key.scopes),
        "expires_at": minted.api_key.expires_at.isoformat(),
    }
    if minted.api_key.resource is not None:
        fields["resource"] = minted.api_key.resource
    return fields


def as_json_line(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=False)


def command_error(exc: ValidationError) -> CommandError:
    """A service's field errors as one readable CommandError."""
    if hasattr(exc, "error_dict"):
        text = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    else:
        text = " ".join(exc.messages)
    return CommandError(text)
