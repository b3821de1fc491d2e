"""`python -m mnist ...`: the command line (mnist.cli)."""

import sys

from mnist.cli import main

sys.exit(main())
