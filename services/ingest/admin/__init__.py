"""The admin API (``/admin/*``) and what it asks the broker about offsets."""
