#!/usr/bin/env python
"""Same as the `relance` command, for habits: python manage.py COMMAND."""
import sys

from relance.cli import main

if __name__ == "__main__":
    main(sys.argv)
