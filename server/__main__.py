"""``python -m server`` is the ``lucarne`` command."""

from .cli import main

raise SystemExit(main())
