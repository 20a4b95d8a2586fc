"""What every vidpipe process runs with: settings, logs, metrics, heap, ports, processes."""
