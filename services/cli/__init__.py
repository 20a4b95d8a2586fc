"""Entry points: the ``vidpipe`` command, ``up`` and its embedded stack, ``web``, ``tap``,
``replay``.

The outermost layer: it may import every service; no service imports it.
"""
