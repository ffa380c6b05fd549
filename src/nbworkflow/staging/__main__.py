"""``python -m nbworkflow.staging``: the staging command on its own."""

import sys

from .command import main

sys.exit(main())
