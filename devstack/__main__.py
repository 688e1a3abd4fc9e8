"""``python -m devstack COMMAND``: see :mod:`devstack.launcher`."""

import sys

from devstack.launcher import main
from services.files import private_umask

private_umask()  # var/ and everything the stack writes there are the owner's alone
sys.exit(main())
