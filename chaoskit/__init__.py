"""chaoskit: a chaos-engineering harness for geo-distributed systems."""

__version__ = "0.1.0"
