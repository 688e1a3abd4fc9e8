"""``python -m services.cli``: see :mod:`services.cli.main`."""

from services.cli.main import main
from services.files import private_umask

private_umask()  # what a command writes (the store, artifacts, exports) is the owner's
raise SystemExit(main())
