"""``python -m services.cli``: see :mod:`services.cli.main`."""

from services.cli.main import main

raise SystemExit(main())
