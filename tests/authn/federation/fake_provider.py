"""A small OpenID provider on a loopback thread (discovery, JWKS, token, userinfo), whose
answers each test bends to make one check fail."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "micro-test"
CLIENT_SECRET = "s3cret-value"

_KEYS: list[RSAKey] = []


def rsa_key(index: int) -> RSAKey:
    """Test keys, generated once per process (2048-bit generation is slow)."""
    while len(_KEYS) <= index:
        _KEYS.append(RSAKey.generate_key(2048, parameters={"kid": f"k{len(_KEYS)}"}))
    return _KEYS[index]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class FakeProvider:
    """The provider's state: what it publishes and how it answers; tests change it."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.keys = [rsa_key(0)]
        self.signing_key = self.keys[0]
        self.subject = "upstream-1"
        self.nonce: str | None = None
        self.claims: dict[str, Any] = {"email": "ada@example.com", "email_verified": True}
        self.header: dict[str, Any] = {}
        self.userinfo: dict[str, Any] | None = None
        self.discovery: dict[str, Any] = {}
        self.delay = 0.0
        self.token_answer: Callable[[], tuple[int, bytes]] | None = None
        self.raw_id_token: str | None = None
        self.requests: list[str] = []
        self.token_requests: list[dict[str, list[str]]] = []
        self.token_headers: list[dict[str, str]] = []
        # Per path ("/jwks", "/token" ...): the exact size its JSON answer is padded to, and
        # how the answer is sent (see Handler._send).
        self.answer_size: dict[str, int] = {}
        self.framing: dict[str, str] = {}
        self.trickle_seconds = 0.2
        # Per path: a URL its GET answers a 302 to instead.
        self.redirects: dict[str, str] = {}
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            **self.discovery,
        }

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet(list(self.keys)).as_dict(private=False))

    def id_token_claims(self) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "nonce": self.nonce,
        }
        claims.update(self.claims)
        return {name: value for name, value in claims.items() if value is not None}

    def id_token(self) -> str:
        if self.raw_id_token is not None:
            return self.raw_id_token
        header = {"alg": "RS256", "kid": self.signing_key.kid, **self.header}
        return jwt.encode(header, self.id_token_claims(), self.signing_key)

    def unsigned_id_token(self) -> str:
        """An `alg: none` token of the current claims."""
        return f"{_b64({'alg': 'none'})}.{_b64(self.id_token_claims())}."

    def hs256_with_public_key(self) -> str:
        """An HS256 token keyed with the provider's public key (the algorithm-confusion attack)."""
        # joserfc refuses to make this token (a public key as an HMAC secret), so it is made
        # by hand here, as an attacker would.
        secret = self.signing_key.as_pem(private=False)
        header = _b64({"alg": "HS256", "kid": self.signing_key.kid})
        signing_input = f"{header}.{_b64(self.id_token_claims())}"
        digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"

    def token_response(self) -> tuple[int, bytes]:
        if self.token_answer is not None:
            return self.token_answer()
        body = {
            "access_token": "upstream-access-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(),
        }
        return 200, json.dumps(body).encode()


def _padded(body: bytes, size: int) -> bytes:
    """The JSON object `body` with a filler member making it exactly `size` bytes long."""
    document = json.loads(body)
    bare = len(json.dumps({**document, "x-filler": ""}).encode())
    document["x-filler"] = "x" * (size - bare)
    padded = json.dumps(document).encode()
    assert len(padded) == size, (len(padded), size)
    return padded


def _handler(provider: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: bytes) -> None:
            """Sends the answer, padded to `answer_size`, framed as `framing` says: "chunked"
            (no Content-Length), "lying-length" (a Content-Length of 1000 before a longer
            body), "gzip" (compressed, Content-Length of the compressed bytes) or "trickle"
            (a few bytes every `trickle_seconds`); by default with its true length."""
            size = provider.answer_size.get(self.path)
            if size is not None:
                body = _padded(body, size)
            framing = provider.framing.get(self.path, "")
            if framing == "chunked":
                self.protocol_version = "HTTP/1.1"
            elif framing == "gzip":
                body = gzip.compress(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
            elif framing == "lying-length":
                self.send_header("Content-Length", "1000")
            elif framing != "trickle":
                self.send_header("Content-Length", str(len(body)))
            if framing == "gzip":
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            with contextlib.suppress(OSError):  # the client stopped reading (too large, slow)
                self._write(body, framing)

        def _write(self, body: bytes, framing: str) -> None:
            if framing == "chunked":
                for start in range(0, len(body), 65536):
                    chunk = body[start : start + 65536]
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            elif framing == "trickle":
                for start in range(0, len(body), 256):
                    self.wfile.write(body[start : start + 256])
                    self.wfile.flush()
                    time.sleep(provider.trickle_seconds)
            else:
                self.wfile.write(body)

        def do_GET(self) -> None:
            provider.requests.append(self.path)
            if provider.delay:
                time.sleep(provider.delay)
            if self.path in provider.redirects:
                self.send_response(302)
                self.send_header("Location", provider.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path == "/.well-known/openid-configuration":
                self._send(200, json.dumps(provider.metadata()).encode())
            elif self.path in ("/jwks", "/jwks-moved"):
                self._send(200, json.dumps(provider.jwks()).encode())
            elif self.path == "/userinfo":
                info = provider.userinfo or {"sub": provider.subject, **provider.claims}
                self._send(200, json.dumps(info).encode())
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:
            provider.requests.append(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if provider.delay:
                time.sleep(provider.delay)
            if self.path == "/token":
                provider.token_requests.append(form)
                provider.token_headers.append(dict(self.headers.items()))
                self._send(*provider.token_response())
            else:
                self._send(404, b"{}")

    return Handler
