"""``python -m mfscan.cli``: the same as the ``mfscan`` command."""

import sys

from mfscan.cli.main import main

sys.exit(main())
