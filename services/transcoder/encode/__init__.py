"""ffmpeg: the command lines of a job (pure) and running them."""
