"""PostgreSQL 15 with Patroni and an etcd DCS across regions (Debian packages)."""
