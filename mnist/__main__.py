"""`python -m mnist ...`: the command line (mnist.cli.main)."""

import sys

from mnist.cli.main import main

sys.exit(main())
