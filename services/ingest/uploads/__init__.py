"""Uploads: ``POST /upload`` (multipart), tus resumable uploads, the rules every upload clears."""
