"""`python -m lib_dnp`: the command line (see lib_dnp/cli.py)."""

from __future__ import annotations

from lib_dnp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
