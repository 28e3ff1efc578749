"""What each `micro` command does; every function returns the exit code."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from micro_cli import credentials as store
from micro_cli import device, transport
from micro_cli.credentials import Credentials
from micro_cli.errors import CliError
from micro_cli.session import CLIENT_ID, Session, credentials_from_token_reply
from micro_cli.transport import Reply

REVOKE_PATH = "/o/revoke_token/"
USERS_PAGE_SIZE = 100  # the server's largest page


def say(text: str = "") -> None:
    print(text, flush=True)  # flushed: `login` is read line by line while it waits


def warn(text: str) -> None:
    print(f"micro: warning: {text}", file=sys.stderr, flush=True)


def print_json(value: Any) -> None:
    say(json.dumps(value, indent=2, sort_keys=True))


def print_fields(rows: list[tuple[str, Any]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        shown = "-" if value is None or value == "" else value
        say(f"{name.ljust(width)}  {shown}")


def expect(reply: Reply, status: int) -> Any:
    """The reply's JSON object when its status is expected; else the problem's detail."""
    if reply.status != status:
        raise CliError(transport.problem_message(reply))
    if status != 204 and not isinstance(reply.body, dict):
        raise CliError(f"unexpected answer from the server (HTTP {status} without a JSON object)")
    return reply.body


def signed_in_as(creds: Credentials) -> str:
    """` as NAME` for the login message; the login itself already succeeded, so a failure
    here only shortens the message."""
    try:
        me = Session(creds).request("GET", "/api/v1/me")
    except CliError:
        return ""
    user = me.field("user") if me.ok else None
    return f" as {user.get('username')}" if isinstance(user, dict) else ""


def login(args: argparse.Namespace) -> int:
    server = transport.normalize_server(args.server or transport.default_server())
    if transport.is_plain_http_off_host(server):
        if not args.allow_insecure_http:
            raise CliError(
                f"refusing to sign in to {server} over plain HTTP: the tokens would travel "
                "unencrypted; use https:// (or pass --allow-insecure-http)"
            )
        warn(f"{server} is plain HTTP: the tokens travel unencrypted")
    scope = " ".join(args.scopes) if args.scopes else device.LOGIN_SCOPE
    grant = device.start(server, scope)
    say(f"To sign in, open {grant.verification_uri} and enter the code: {grant.user_code}")
    if grant.verification_uri_complete:
        say(f"(or open {grant.verification_uri_complete})")
    say("Waiting for approval...")
    body = device.poll(
        device.token_request(server, grant.device_code),
        interval=grant.interval,
        expires_in=grant.expires_in,
        shortest=device.poll_override(),
    )
    creds = credentials_from_token_reply(server, body, scope)
    previous = previous_login()
    path = store.save(creds)
    if previous is not None and previous.server == server:
        revoke_quietly(previous)  # its file is replaced: nothing could use or revoke it later
    say(f"Logged in to {server}{signed_in_as(creds)}. Credentials saved in {path}.")
    return 0


def previous_login() -> Credentials | None:
    try:
        return store.load()
    except CliError:  # damaged or exposed: replaced all the same
        return None


def revoke(creds: Credentials) -> Reply:
    """RFC 7009 revocation of the refresh token; the server revokes its access token too."""
    return transport.send(
        "POST",
        creds.server + REVOKE_PATH,
        creds.server,
        data={
            "token": creds.refresh_token,
            "token_type_hint": "refresh_token",
            "client_id": CLIENT_ID,
        },
    )


def revoke_quietly(creds: Credentials) -> None:
    with contextlib.suppress(CliError):  # best effort: the old login expires on its own
        revoke(creds)


def whoami(args: argparse.Namespace) -> int:
    session = Session.load()
    body = expect(session.request("GET", "/api/v1/me"), 200)
    if args.json:
        print_json(body)
        return 0
    user = body.get("user") or {}
    print_fields(
        [
            ("username", user.get("username")),
            ("id", user.get("id")),
            ("kind", user.get("kind")),
            ("email", user.get("email")),
            ("scopes", " ".join(body.get("scopes") or [])),
            ("server", session.server),
        ]
    )
    return 0


def user_read(args: argparse.Namespace) -> int:
    session = Session.load()
    if args.username is not None:
        reply = session.request("GET", "/api/v1/users", params={"username": args.username})
        results = expect(reply, 200).get("results") or []
        if not results:
            raise CliError(f"no user named {args.username!r}")
        user = results[0]
    else:
        user = expect(session.request("GET", f"/api/v1/users/{quote(args.id, safe='')}"), 200)
    if args.json:
        print_json(user)
    else:
        print_fields(list(user.items()))
    return 0


USER_COLUMNS = f"{'ID':36}  {'USERNAME':24}  {'KIND':7}  {'ACTIVE':6}  EMAIL"


def users_list(args: argparse.Namespace) -> int:
    """Every user, page after page (needs `users:write`); rows are printed as each page
    arrives, so `micro users list | head` stops after the first page."""
    session = Session.load()
    url = f"/api/v1/users?page_size={USERS_PAGE_SIZE}"
    everyone: list[dict[str, Any]] = []
    if not args.json:
        say(USER_COLUMNS)
    for rows in pages(session, url):
        if args.json:
            everyone.extend(rows)
        else:
            for user in rows:
                say(user_row(user))
    if args.json:
        print_json(everyone)
    return 0


def pages(session: Session, url: str) -> Iterator[list[dict[str, Any]]]:
    """The rows of each page of a cursor-paginated list, following `next` to the end; a
    `next` that leads back to a page already read is an error, not an endless loop."""
    seen: set[str] = set()
    following: str | None = url
    while following is not None:
        if following in seen:
            raise CliError(f"the server's pages lead back to {following}")
        seen.add(following)
        page = expect(session.request("GET", following), 200)
        yield page.get("results") or []
        link = page.get("next")
        following = link if isinstance(link, str) else None


def user_row(user: dict[str, Any]) -> str:
    active = "yes" if user.get("is_active") else "no"
    return (
        f"{user.get('id', ''):36}  {user.get('username', ''):24}  "
        f"{user.get('kind', ''):7}  {active:6}  {user.get('email') or '-'}"
    )


def users_create(args: argparse.Namespace) -> int:
    session = Session.load()
    body: dict[str, Any] = {"username": args.username}
    for name in ("email", "display_name", "kind"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: no password on standard input")
        body["password"] = password
    user = expect(session.request("POST", "/api/v1/users", json=body), 201)
    if args.json:
        print_json(user)
    else:
        print_fields(list(user.items()))
    return 0


def key_state(key: dict[str, Any], now: datetime) -> str:
    if key.get("revoked_at"):
        return "revoked"
    try:
        expires = datetime.fromisoformat(str(key.get("expires_at")))
    except ValueError:
        return "?"
    return "expired" if expires <= now else "active"


def keys_list(args: argparse.Namespace) -> int:
    session = Session.load()
    keys = [key for rows in pages(session, "/api/v1/api-keys") for key in rows]
    if args.json:
        print_json(keys)
        return 0
    if not keys:
        say("No API keys.")
        return 0
    say(f"{'ID':36}  {'PREFIX':12}  {'STATE':7}  {'EXPIRES':20}  {'SCOPES':24}  NAME")
    now = datetime.now(UTC)
    for key in keys:
        state = key_state(key, now)
        expires = str(key.get("expires_at") or "")[:19]
        scopes = " ".join(key.get("scopes") or [])
        say(
            f"{key.get('id', ''):36}  {key.get('prefix', ''):12}  {state:7}  {expires:20}  "
            f"{scopes:24}  {key.get('name', '')}"
        )
    return 0


def keys_create(args: argparse.Namespace) -> int:
    session = Session.load()
    body: dict[str, Any] = {"name": args.name, "scopes": args.scopes}
    if args.expires_in_days is not None:
        body["expires_in_days"] = args.expires_in_days
    minted = expect(session.request("POST", "/api/v1/api-keys", json=body), 201)
    if args.json:
        print_json(minted)
        return 0
    print_fields(
        [
            ("id", minted.get("id")),
            ("name", minted.get("name")),
            ("scopes", " ".join(minted.get("scopes") or [])),
            ("expires_at", minted.get("expires_at")),
            ("key", minted.get("key")),
        ]
    )
    say("The key is shown only this once: store it now.")
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    session = Session.load()
    expect(session.request("DELETE", f"/api/v1/api-keys/{quote(args.id, safe='')}"), 204)
    say(f"Revoked API key {args.id}.")
    return 0


def logout(args: argparse.Namespace) -> int:
    """Tells the server to revoke the refresh token (and with it the access token), then
    deletes the file whatever the server said: the user asked to be logged out here."""
    try:
        creds = store.load()
    except CliError as exc:  # a damaged or exposed file is deleted all the same
        warn(str(exc))
        creds = None
    if creds is None:
        if store.delete():
            say("Deleted the local credentials.")
        else:
            say("Not logged in.")
        return 0
    try:
        reply = revoke(creds)
        if not reply.ok:
            warn(f"the server did not revoke the login: {transport.problem_message(reply)}")
    except CliError as exc:
        warn(f"{exc}; the server could not be told, the login stays valid there until it expires")
    store.delete()
    say(f"Logged out of {creds.server}.")
    return 0
