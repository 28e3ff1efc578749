"""The landing page at `/`: what this service is and where to go next."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    context = {"issuer": settings.MICRO_ISSUER, "signup_open": settings.MICRO_SIGNUP_OPEN}
    return render(request, "micro/home.html", context)
