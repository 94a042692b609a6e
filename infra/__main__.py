"""`python -m infra` is `v4infra`."""

import sys

from infra.cli import main

sys.exit(main())
