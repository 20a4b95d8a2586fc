"""``python -m services.cli`` is the ``vidpipe`` command."""

import sys

from services.cli.main import main

sys.exit(main())
