"""``python -m devstack COMMAND``: see :mod:`devstack.launcher`."""

import sys

from devstack.launcher import main

sys.exit(main())
