"""Outgoing account emails: rendered from templates/email/, sent after the transaction commits."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger("micro.email")

# Two workers per process: enough for account emails, and a slow SMTP server cannot pile up
# threads. Python joins the pool at exit, so queued mail is still sent on a clean shutdown.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="micro-email")


def build(
    *, template: str, subject: str, to: str, context: dict[str, Any]
) -> EmailMultiAlternatives:
    """A plain-text email with an HTML alternative, from `email/<template>.txt|.html`."""
    context = {"issuer": settings.MICRO_ISSUER, **context}
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
