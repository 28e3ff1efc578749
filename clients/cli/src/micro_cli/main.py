"""`micro`: argument parsing and the exit-code contract (0 done, 1 handled error, 2 usage)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from micro_cli import __version__, commands
from micro_cli.device import LOGIN_SCOPE
from micro_cli.errors import CliError

DEBUG_ENV = "MICRO_CLI_DEBUG"
CLOSED_PIPE_EXIT = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away
DESCRIPTION = """\
Command-line client of the Micro User Service.

Sign in once with `micro login` (the OAuth 2.0 device flow: approve the shown code in a
browser); the credentials are kept in $XDG_CONFIG_HOME/micro/credentials.json (default
~/.config/micro/credentials.json, mode 0600) and the access token is refreshed automatically.
"""

EPILOG = """\
examples:
  micro login --server https://id.example.com
  micro whoami
  micro login --scope profile users:read users:write
  micro users get --username alice
  micro users list | head -5
  micro users create bob --email bob@example.com
  micro keys create ci-deploy --scope users:read --expires-in-days 30
  micro keys revoke 3f0c...
  micro logout

exit codes: 0 success, 1 error (one line on stderr), 2 invalid usage, 130 interrupted,
  141 the output's reader went away (a closed pipe; nothing is printed)
"""


def _positive_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = 0
    if not 1 <= days <= 365:  # the server's bounds for a key's lifetime
        raise argparse.ArgumentTypeError(f"expected a number of days (1-365), not {value!r}")
    return days


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the server's JSON")


def _add_user_read(actions: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    read = actions.add_parser(
        name,
        help="one user by id or username",
        description="Show one user: by id (GET /api/v1/users/ID) or by exact username.",
    )
    who = read.add_mutually_exclusive_group(required=True)
    who.add_argument("id", nargs="?", help="the user's id (UUID)")
    who.add_argument("--username", metavar="NAME", help="exact username (case-insensitive)")
    _add_json(read)
    read.set_defaults(handler=commands.user_read)


def _user_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = subparsers.add_parser("user", help="look up users (as `users get`)")
    _add_user_read(user.add_subparsers(dest="action", required=True, metavar="ACTION"), "read")


def _users_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = subparsers.add_parser("users", help="users: list, get, create")
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="every user (needs users:write)", description="List every user, by page."
    )
    _add_json(listing)
    listing.set_defaults(handler=commands.users_list)
    _add_user_read(actions, "get")
    create = actions.add_parser(
        "create",
        help="create a user (needs users:write)",
        description="Create a user or a service account (POST /api/v1/users).",
    )
    create.add_argument("username", help="the new account's username")
    create.add_argument("--email", metavar="ADDRESS")
    create.add_argument("--display-name", metavar="NAME")
    create.add_argument("--kind", choices=("user", "service"), help="default: user")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (never an argument)",
    )
    _add_json(create)
    create.set_defaults(handler=commands.users_create)


def _keys_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = subparsers.add_parser("keys", help="your API keys: list, create, revoke")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="your API keys (no secrets)")
    _add_json(listing)
    listing.set_defaults(handler=commands.keys_list)
    create = actions.add_parser(
        "create",
        help="mint an API key (the key is printed once)",
        description="Mint an API key. Its scopes must be within this login's scopes.",
    )
    create.add_argument("name", help="a label for the key")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        metavar="SCOPE",
        help="a scope the key carries (repeat for several), e.g. users:read",
    )
    create.add_argument(
        "--expires-in-days", type=_positive_days, metavar="N", help="1-365 (server default 90)"
    )
    _add_json(create)
    create.set_defaults(handler=commands.keys_create)
    revoke = actions.add_parser("revoke", help="revoke an API key at once")
    revoke.add_argument("id", help="the key's id (from `micro keys list`)")
    revoke.set_defaults(handler=commands.keys_revoke)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="micro",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"micro {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    login = subparsers.add_parser(
        "login",
        help="sign in with the device flow",
        description="Sign in: prints a URL and a code to approve in a browser, then waits.",
    )
    login.add_argument(
        "--server",
        metavar="URL",
        help="the service's base URL (default: $MICRO_SERVER or http://localhost:8000)",
    )
    login.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="sign in over plain http:// to a host other than this machine (the tokens travel "
        "unencrypted; otherwise refused)",
    )
    login.add_argument(
        "--scope",
        dest="scopes",
        action="extend",
        nargs="+",
        metavar="SCOPE",
        help=f"the scopes to ask for, e.g. --scope profile users:write (default: {LOGIN_SCOPE})",
    )
    login.set_defaults(handler=commands.login)
    whoami = subparsers.add_parser("whoami", help="the signed-in account and its scopes")
    _add_json(whoami)
    whoami.set_defaults(handler=commands.whoami)
    _user_parser(subparsers)
    _users_parser(subparsers)
    _keys_parser(subparsers)
    logout = subparsers.add_parser(
        "logout", help="revoke the login on the server and delete the local credentials"
    )
    logout.set_defaults(handler=commands.logout)
    return parser


def closed_pipe() -> int:
    """The reader of our output went away (`micro users list | head -1`): stop quietly. What
    is left in stdout's buffer goes to /dev/null, or flushing it at exit would fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return CLOSED_PIPE_EXIT


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as exc:
        print(f"micro: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return closed_pipe()
    except KeyboardInterrupt:
        print("micro: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the contract is one line, never a traceback
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"micro: error: unexpected failure ({type(exc).__name__}: {exc}); "
            f"set {DEBUG_ENV}=1 for details",
            file=sys.stderr,
        )
        return 1
