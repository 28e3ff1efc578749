"""Email delivery: after commit only, off the request thread, over real SMTP, failures logged
without the message."""

from __future__ import annotations

import logging
import smtplib
import socketserver
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from django.core import mail
from django.db import transaction

from accounts import email_flows
from accounts.models import User
from micro_platform.env import env_email
from tests.factories import UserFactory


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def member(db):
    return UserFactory.create(email="sam@example.com", email_verified=False)


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept one message: records what arrives."""

    received: list[bytes]

    def handle(self) -> None:
        self.wfile.write(b"220 sink ready\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                self.server.received.append(self._read_data())  # type: ignore[attr-defined]
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # EHLO, MAIL FROM, RCPT TO, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")

    def _read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line)
        return b"".join(lines)


@pytest.fixture
def smtp_sink() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_reset_email_goes_out_over_smtp_as_configured_by_email_url(
    member, commit, settings, monkeypatch, smtp_sink
):
    port = smtp_sink.server_address[1]
    monkeypatch.setenv("EMAIL_URL", f"smtp://127.0.0.1:{port}?timeout=5")
    config = env_email("EMAIL_URL")
    settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT = (
        config.backend,
        config.host,
        config.port,
    )
    settings.EMAIL_TIMEOUT, settings.EMAIL_USE_TLS = config.timeout, config.use_tls

    User.objects.filter(pk=member.pk).update(email_verified=True)  # resets go to verified ones
    with commit(execute=True):
        email_flows.password_reset_send(email="sam@example.com", ip_address="203.0.113.1")

    (raw,) = smtp_sink.received  # type: ignore[attr-defined]
    message = message_from_bytes(raw)
    assert message["To"] == "sam@example.com"
    assert message["Subject"] == "Reset your password"
    assert message.is_multipart()  # text and HTML
    text_part = message.get_payload(0)
    assert isinstance(text_part, Message)
    text = text_part.get_payload(decode=True)
    assert isinstance(text, bytes)
    assert b"/accounts/password-reset/" in text


def test_nothing_is_sent_when_the_transaction_rolls_back(member, commit):
    with commit(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        email_flows.email_verification_send(user=member)
        raise RuntimeError("the change failed after the email was queued")

    assert mail.outbox == []


def test_outside_tests_emails_leave_from_the_background_pool(member, commit, settings):
    settings.MICRO_EMAIL_SEND_INLINE = False
    caller = threading.current_thread()
    senders: list[threading.Thread] = []
    original = mail.EmailMultiAlternatives.send

    def spy(message, *args, **kwargs):
        senders.append(threading.current_thread())
        return original(message, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mail.EmailMultiAlternatives, "send", spy)
        with commit(execute=True):
            email_flows.email_verification_send(user=member)
        deadline = time.monotonic() + 10
        while not mail.outbox and time.monotonic() < deadline:
            time.sleep(0.01)

    assert [message.to for message in mail.outbox] == [["sam@example.com"]]
    assert senders and senders[0] is not caller


def test_a_mail_outage_is_logged_without_the_message_and_the_request_succeeds(
    member, commit, caplog, monkeypatch
):
    def refuse(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("connection lost")

    monkeypatch.setattr(mail.EmailMultiAlternatives, "send", refuse)
    caplog.set_level(logging.INFO, logger="micro.email")

    User.objects.filter(pk=member.pk).update(email_verified=True)
    with commit(execute=True):  # raises nothing: the request that queued it succeeds
        email_flows.password_reset_send(email="sam@example.com", ip_address=None)

    assert "email.failed template=password_reset" in caplog.text
    assert "/accounts/password-reset/" not in caplog.text
