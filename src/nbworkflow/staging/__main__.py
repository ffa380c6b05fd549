"""``python -m nbworkflow.staging``: the staging and chaos commands on their own."""

import sys

from .command import main

sys.exit(main())
