"""``python -m runs`` = the ``labnet`` command."""
from runs.cli import main

raise SystemExit(main())
