"""The event contract: event types, CloudEvents codec, topic catalogue, generated schemas."""
