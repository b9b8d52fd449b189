"""etcd as a system under test (docker backend only: see adapter.py)."""
