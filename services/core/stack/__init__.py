"""Where the broker and the database are: the environment, else a running ``vidpipe up``."""
