"""`python -m micro_cli`: the same entry point as the `micro` console script."""

from micro_cli.main import main

raise SystemExit(main())
