"""`python -m minillm train ...` and `python -m minillm generate ...`: see minillm.cli."""
import signal
import sys

from minillm.cli import main

status = main()
# The work is done and saved: a Ctrl-C that arrives while Python shuts down (torch's exit
# handlers run then) must not print a traceback over a finished run.
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.exit(status)
