"""``python -m minidiff``: the same command line as the ``minidiff`` script."""

from .cli import main

raise SystemExit(main())
