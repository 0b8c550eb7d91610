#!/usr/bin/env python3
"""Runs a command and prints its peak resident set size in KiB on stderr's last line.

Linux folds the parent's high-water RSS into a child's ru_maxrss when the child execs, so a
child spawned by a large process (the benchmark binary) reports the parent's size. Spawned
from this small interpreter, the figure is the command's own."""
import os, subprocess, sys

child = subprocess.Popen(sys.argv[1:], stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(f"peak_rss_kib={usage.ru_maxrss}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
