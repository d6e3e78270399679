"""``python -m labnet.runs`` = the ``labnet`` command."""
from labnet.runs.cli.commands import main

raise SystemExit(main())
