"""`python -m authn.cli`: the same entry point as the `micro` launcher."""

from authn.cli.main import main

raise SystemExit(main())
