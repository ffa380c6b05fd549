"""``python -m nbworkflow.chaos chaos WORKFLOW --openapi FILE ...``."""

import sys

from .command import main

sys.exit(main())
