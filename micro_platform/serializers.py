"""Serializer base classes shared by every app."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.validators import (
    MaxLengthValidator,
    ProhibitNullCharactersValidator,
    RegexValidator,
)
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from micro_platform.scopes import ANY_SCOPE_NAME, ANY_SCOPE_NAME_PATTERN


class StrictSerializer(serializers.Serializer):
    """An input serializer that rejects fields it does not list: an unknown field is a 400."""

    # JSON Schema keywords (e.g. `anyOf`) its request schema adds for a rule across fields.
    schema_constraints: ClassVar[dict[str, Any]] = {}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}, code="unknown_field"
                )
            # DRF's CharField turns a JSON number into a string, and its UUIDField reads a
            # number (or `true`) as the UUID of that integer; the schema promises a string.
            not_text = sorted(
                name
                for name, field in self.fields.items()
                if isinstance(field, serializers.CharField | serializers.UUIDField)
                and name in data
                and data[name] is not None
                and not isinstance(data[name], str)
            )
            if not_text:
                raise serializers.ValidationError(
                    {name: ["Not a valid string."] for name in not_text}, code="invalid"
                )
        return super().to_internal_value(data)


_REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def _plain_check(check: Any, field: serializers.CharField) -> bool:
    """Whether `check` is one a plain CharField carries: its own `max_length` (not another
    limit given as a validator), no NUL, no surrogate."""
    if isinstance(check, MaxLengthValidator):
        return check.limit_value == field.max_length
    return isinstance(check, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator)


@dataclass(frozen=True, slots=True)
class _Text:
    name: str
    required: bool
    max_length: int | None
    allow_blank: bool
    trim: bool


@functools.cache
def _plain_text_fields(serializer_class: type[StrictSerializer]) -> tuple[_Text, ...] | None:
    """The fields of `serializer_class` when every one is a plain CharField (no validator of
    its own, no default, no `validate_<name>`) and the serializer validates nothing more
    (no validators, no override of `validate`, `to_internal_value` or `run_validation`);
    else None."""
    serializer = serializer_class()
    if (
        serializer.validators
        or serializer_class.validate is not serializers.Serializer.validate
        or serializer_class.to_internal_value is not StrictSerializer.to_internal_value
        or serializer_class.run_validation is not serializers.Serializer.run_validation
    ):
        return None
    fields: list[_Text] = []
    for name, field in serializer.fields.items():
        if (
            type(field) is not serializers.CharField
            or field.source != name
            or field.read_only
            or field.allow_null
            or field.default is not empty
            or field.min_length is not None
            or hasattr(serializer, f"validate_{name}")
            or not all(_plain_check(check, field) for check in field.validators)
        ):
            return None
        fields.append(
            _Text(name, field.required, field.max_length, field.allow_blank, field.trim_whitespace)
        )
    return tuple(fields)


def plain_text_input(serializer_class: type[StrictSerializer], data: Any) -> dict[str, str] | None:
    """`serializer_class(data=data).validated_data` for an input that is plainly valid, without
    running the serializer; None for anything else, which the caller gives to the serializer
    (it alone writes the errors). Only for serializers made of plain CharFields (None for any
    other).

    Written for the sign-in, where DRF's field machinery cost ~120 µs per request in-process
    for two short strings. Plainly valid: a JSON object of only the declared fields, each a
    string, every required one present, none blank unless allowed, none over its
    `max_length`, no NUL or surrogate; trimmed as the field trims. Anything unusual (numbers,
    nulls, unknown fields, an empty value) takes the serializer's path.
    tests/platform/test_serializers.py compares the two on a corpus."""
    fields = _plain_text_fields(serializer_class)
    if fields is None or type(data) is not dict:
        return None
    validated: dict[str, str] = {}
    for field in fields:
        value = data.get(field.name, empty)
        if value is empty:
            if field.required:
                return None
            continue
        if type(value) is not str:
            return None
        if field.trim:
            value = value.strip()
        if (
            (not value and not field.allow_blank)
            or (field.max_length is not None and len(value) > field.max_length)
            or _REFUSED_CHARACTERS.search(value)
        ):
            return None
        validated[field.name] = value
    if len(validated) != len(data):  # a name the serializer does not declare
        return None
    return validated


def validated_input(serializer_class: type[StrictSerializer], data: Any) -> Mapping[str, Any]:
    """The validated data of `serializer_class` for `data` (its ValidationError, a 400, when
    invalid), from `plain_text_input` when that vouches for the input."""
    plain = plain_text_input(serializer_class, data)
    if plain is not None:
        return plain
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def scope_name_field() -> serializers.CharField:
    """A scope name in a request: its form is checked (and stated in the schema); whether it
    is registered is the service's check."""
    message = f"A scope name matches {ANY_SCOPE_NAME_PATTERN}."
    return serializers.CharField(
        max_length=127, validators=[RegexValidator(ANY_SCOPE_NAME, message)]
    )
