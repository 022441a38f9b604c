"""`python -m duban …`, the same as the `duban` script."""

import sys

from duban.launch import main

sys.exit(main())
