"""Runs Jasmin's jasmind.py (argv[1], its options after) with its single-instance lock moved.

jasmind takes a lock at the fixed path /tmp/jasmind and exits ("Lock not acquired ! exiting") when
another jasmind on the machine holds it: two test sessions at once (two developers, or the SQLite
and PostgreSQL passes run side by side) could never both have a gateway. Each gateway already has
its own ports, vhost and directory, so the lock goes to $RELANCE_JASMIN_LOCK (in that directory).
Run with .jasmin-venv's python (relance/providers/testing/jasmin.py does).
"""

import os
import runpy
import sys

import lockfile


class DirectoryLock(lockfile.FileLock):
    def __init__(self, _path, *args, **kwargs):
        super().__init__(os.environ["RELANCE_JASMIN_LOCK"], *args, **kwargs)


lockfile.FileLock = DirectoryLock
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
