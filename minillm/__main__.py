"""`python -m minillm train ...` and `python -m minillm generate ...`: see minillm.cli."""
import sys

from minillm.cli import main

sys.exit(main())
