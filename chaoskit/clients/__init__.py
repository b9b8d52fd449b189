"""Client protocols: how a load user talks to a system (http, command, redis, sql)."""
