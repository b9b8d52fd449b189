"""Redis with Sentinel across regions (Debian redis-server and redis-sentinel)."""
