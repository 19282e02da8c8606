"""python -m router: same as the alert-router console script."""

from router.cli import main

raise SystemExit(main())
