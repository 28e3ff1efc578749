"""Seeds the users of the two-instance load test; prints one JSON line on stdout.

Run by tests/load/harness.py in a subprocess with the production settings and the load
database in the environment. Every user shares one Argon2id hash (one `set_password`), and the
run's database is created fresh, so this only ever inserts.
"""

from __future__ import annotations

import argparse
import json
import sys

import django


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--password", required=True)
    parser.add_argument("usernames", nargs="+")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    django.setup()
    from accounts.models import User

    template = User(username="load-template")
    template.set_password(args.password)
    User.objects.bulk_create(
        [User(username=name, password=template.password) for name in args.usernames]
    )
    ids = dict(User.objects.filter(username__in=args.usernames).values_list("username", "id"))
    sys.stdout.write(json.dumps({name: str(value) for name, value in ids.items()}) + "\n")


if __name__ == "__main__":
    main()
