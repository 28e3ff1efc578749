"""Outgoing account emails: rendered from templates/email/, sent after the transaction commits."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from accounts.validators import is_layout_control

logger = logging.getLogger("micro.email")

# Two workers per process: enough for account emails, and a slow SMTP server cannot pile up
# threads. Python joins the pool at exit, so queued mail is still sent on a clean shutdown.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="micro-email")
MAX_NAME_LENGTH = 64


def plain_line(value: str) -> str:
    """`value` as one line of plain text: line breaks and other layout controls become spaces,
    runs of whitespace one space, so a value cannot add lines (a fake link, instructions)."""
    return " ".join("".join(" " if is_layout_control(c) else c for c in value).split())


def addressee_name(*, display_name: str, username: str) -> str:
    """How an email greets its addressee: the display name on one line and at most
    MAX_NAME_LENGTH characters, or the username when that leaves nothing."""
    name = plain_line(display_name)
    if len(name) > MAX_NAME_LENGTH:
        name = name[: MAX_NAME_LENGTH - 1].rstrip() + "…"
    return name or username


def build(
    *, template: str, subject: str, to: str, context: dict[str, Any]
) -> EmailMultiAlternatives:
    """A plain-text email with an HTML alternative, from `email/<template>.txt|.html`.

    The plain-text part is not escaped, so every text value is made one plain line first.
    """
    lines = {k: plain_line(v) if isinstance(v, str) else v for k, v in context.items()}
    context = {"issuer": settings.MICRO_ISSUER, **lines}
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"email/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string(f"email/{template}.html", context), "text/html")
    return message


def send_on_commit(*, template: str, subject: str, to: str, context: dict[str, Any]) -> None:
    """Renders and sends once the current transaction commits (never for a rolled-back change).

    Rendering happens off the request too, so the request costs the same whether or not an
    email goes out (the flows that name an address must not reveal whether it has an account).
    """

    def deliver() -> None:
        try:
            build(template=template, subject=subject, to=to, context=context).send()
        except Exception:  # a mail outage must not fail the request or stop the pool
            # The body carries a link with a token: log the template only, never the message.
            logger.exception("email.failed template=%s", template)
        else:
            logger.info("email.sent template=%s", template)

    if settings.MICRO_EMAIL_SEND_INLINE:
        transaction.on_commit(deliver)
    else:
        transaction.on_commit(lambda: _pool.submit(deliver))
