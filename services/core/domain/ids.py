"""One spelling per resource: job and user ids are canonical UUIDs (lower case, hyphenated).

Pure: no I/O. ``uuid.UUID`` also reads ``{...}``, ``urn:uuid:...``, upper case and no hyphens;
a route that accepted those and built a storage prefix from the raw text acted on one job in
the database and on a prefix that does not exist. Every route answers 404 to another spelling.
"""

from __future__ import annotations

import re

_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_canonical_id(text: str) -> bool:
    """True when ``text`` is a UUID spelled as ``str(uuid.UUID(...))`` spells it."""
    return _CANONICAL.fullmatch(text) is not None
