"""Request body parsers shared by every API view."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class LoneSurrogateError(ValueError):
    """A JSON string held half of a UTF-16 surrogate pair (`"\\ud800"`)."""


def reject_lone_surrogates(data: Any) -> Any:
    """`data` as parsed, or LoneSurrogateError if any key or string in it holds a lone surrogate.

    JSON may spell a lone surrogate as an escape (`"\\udfff"`) and Python's decoder accepts it,
    but such a string cannot be encoded as UTF-8: PostgreSQL refuses it, SQLite stores it, and
    rendering it later fails. Refusing it at the door keeps that a 400, not a 500 now or for
    every later reader. ASCII strings (the usual case) are skipped without encoding them.
    """
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise LoneSurrogateError("a string holds a lone UTF-16 surrogate") from exc
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return data


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 (not 500) to JSON nested too deeply to decode and to
    strings that are not Unicode text (lone surrogates)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return reject_lone_surrogates(super().parse(stream, media_type, parser_context))
        except RecursionError as exc:  # e.g. "[" * 100000: json raises RecursionError
            raise ParseError("JSON parse error - nested too deeply.") from exc
        except LoneSurrogateError as exc:
            raise ParseError(f"JSON parse error - {exc}.") from exc
