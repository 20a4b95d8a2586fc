"""Media delivery: signed media URLs and the downloads they share a code path with."""
