"""An issuer without a server: an RSA key, its discovery document and JWKS served over
loopback HTTP from a thread, and tokens signed with PyJWT as the Micro service signs them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from micro_client import contract

ISSUER = "https://id.example.com"
AUDIENCE = "micro"
UPSTREAM_AUDIENCE = "micro-upstream"
KID = "key-1"
USER_ID = "5f0c6a52-4d7e-4d53-9c4e-7a3c1f0b8e11"
# Where the loopback issuer's discovery document says its JWKS is (it serves it at
# `contract.JWKS_PATH` too): a verifier that reaches this path followed the `jwks_uri`.
KEYS_PATH = "/keys/jwks.json"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": contract.ALGORITHM, "use": "sig"}


class Issuer:
    """The signing keys, the JWKS and the discovery document a loopback HTTP server publishes."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {KID: new_key()}
        self.published: set[str] = {KID}
        self.requests = 0
        self.paths: list[str] = []  # the paths asked for, in order
        self.base = ""  # the server's URL: the issuer its discovery document names
        self.url = ""  # the JWKS at the contract path

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.keys[kid], kid) for kid in sorted(self.published)]}

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.base, "jwks_uri": self.base + KEYS_PATH}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """An access token's claims; `None` values remove a claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": USER_ID,
            "exp": now + 300,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "token_type": "access",
            "scope": f"{contract.PROFILE} {contract.USERS_READ}",
            "username": "ada",
            "kind": "user",
            "groups": [],
            "amr": ["pwd"],
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        kid: str = KID,
        typ: str = contract.ACCESS_TOKEN_TYP,
        **headers: Any,
    ) -> str:
        return jwt.encode(
            claims,
            self.keys[kid],
            algorithm=contract.ALGORITHM,
            headers={"typ": typ, "kid": kid, **headers},
        )


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    """An issuer whose JWKS is served at `issuer.url` (plain http to 127.0.0.1), and whose
    discovery document (at `issuer.base`) names it at KEYS_PATH."""
    published = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            published.requests += 1
            published.paths.append(self.path)
            if self.path in (contract.JWKS_PATH, KEYS_PATH):
                document = published.jwks()
            elif self.path == contract.DISCOVERY_PATH:
                document = published.discovery()
            else:
                self.send_error(404)
                return
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    published.base = f"http://127.0.0.1:{server.server_address[1]}"
    published.url = published.base + contract.JWKS_PATH
    yield published
    server.shutdown()
    server.server_close()
    thread.join(5)
