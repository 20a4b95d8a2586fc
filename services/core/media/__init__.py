"""Media sources: probing with PyAV, the container allow-list, the media limits."""
