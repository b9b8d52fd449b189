"""toykv: a one-line-per-request key-value server, and its chaoskit adapter."""
