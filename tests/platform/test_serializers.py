"""plain_text_input answers only what the serializer would accept, with the same data."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.core.validators import MaxLengthValidator, RegexValidator
from django.http import QueryDict
from rest_framework import serializers

from authn.sign_in.serializers import TokenObtainIn
from authn.tokens.serializers import TokenRefreshIn
from micro_platform.serializers import StrictSerializer, plain_text_input, validated_input


class Variants(StrictSerializer):
    kept = serializers.CharField(max_length=5, trim_whitespace=False)
    trimmed = serializers.CharField(max_length=5, required=False)
    blank = serializers.CharField(max_length=5, required=False, allow_blank=True)
    free = serializers.CharField(required=False)


class WithValidator(StrictSerializer):
    name = serializers.CharField(validators=[RegexValidator("^a")])


class WithLengthValidator(StrictSerializer):
    name = serializers.CharField(validators=[MaxLengthValidator(5)])


class WithFieldCheck(StrictSerializer):
    name = serializers.CharField()

    def validate_name(self, value: str) -> str:
        return value.upper()


class WithCrossCheck(StrictSerializer):
    name = serializers.CharField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"name": "changed"}


class WithOwnParsing(StrictSerializer):
    name = serializers.CharField()

    def to_internal_value(self, data: Any) -> Any:
        return {"name": "parsed"}


class WithOtherField(StrictSerializer):
    name = serializers.CharField()
    count = serializers.IntegerField(required=False)


class WithDefault(StrictSerializer):
    name = serializers.CharField(default="x")


VALUES: list[Any] = [
    "alice",
    "  al  ",
    "",
    "   ",
    "\u2003ab\u2003",
    "a\x00b",
    "a\ud800",
    "x" * 5,
    "x" * 6,
    " xxxxx ",
    "é😀",
    "a\nb",
    0,
    1.5,
    True,
    None,
    [],
    {},
]


def corpus(serializer_class: type[StrictSerializer]) -> list[Any]:
    fields = serializer_class().fields
    names = list(fields)
    required = {name: "abc" for name, field in fields.items() if field.required}
    inputs: list[Any] = [None, [], "text", {}, QueryDict("a=b"), {"unknown": "x"}]
    inputs += [required, {**required, "unknown": "x"}, {**required, "Unknown": "abc"}]
    for name, value in itertools.product(names, VALUES):
        inputs.append({name: value})
        inputs.append({**dict.fromkeys(names, "abc"), name: value})
        inputs.append({**dict.fromkeys(names, "abc"), name: value, "unknown": "x"})
    return inputs


@pytest.mark.parametrize("serializer_class", [TokenObtainIn, TokenRefreshIn, Variants])
def test_an_answer_is_the_serializers_validated_data(
    serializer_class: type[StrictSerializer],
) -> None:
    answered = 0
    for data in corpus(serializer_class):
        plain = plain_text_input(serializer_class, data)
        serializer = serializer_class(data=data)
        valid = serializer.is_valid()
        if plain is not None:
            answered += 1
            assert valid, (data, serializer.errors)
            assert plain == dict(serializer.validated_data), data
    assert answered >= 20


@pytest.mark.parametrize(
    "data",
    [
        {"username": "alice", "password": "a long passphrase"},
        {"username": " Alice ", "password": " spaced ", "otp": " 123456 ", "scope": ""},
        {"username": "a@example.com", "password": "p", "scope": "  ", "resource": "svc"},
    ],
)
def test_a_plain_sign_in_is_answered_without_the_serializer(data: dict[str, Any]) -> None:
    serializer = TokenObtainIn(data=data)
    assert serializer.is_valid()
    assert plain_text_input(TokenObtainIn, data) == dict(serializer.validated_data)


@pytest.mark.parametrize(
    "serializer_class",
    [
        WithValidator,
        WithLengthValidator,
        WithFieldCheck,
        WithCrossCheck,
        WithOwnParsing,
        WithOtherField,
        WithDefault,
    ],
)
def test_serializers_with_more_than_plain_text_are_never_answered(
    serializer_class: type[StrictSerializer],
) -> None:
    assert plain_text_input(serializer_class, {"name": "abc"}) is None
    assert validated_input(serializer_class, {"name": "abc"}) == dict(
        _validated(serializer_class, {"name": "abc"})
    )


def test_invalid_input_gets_the_serializers_errors() -> None:
    with pytest.raises(serializers.ValidationError) as raised:
        validated_input(TokenObtainIn, {"username": "alice", "password": "", "extra": 1})
    serializer = TokenObtainIn(data={"username": "alice", "password": "", "extra": 1})
    assert not serializer.is_valid()
    assert raised.value.detail == serializer.errors


def _validated(serializer_class: type[StrictSerializer], data: Any) -> Any:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
