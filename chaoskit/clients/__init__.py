"""Clients for systems under test, one module per protocol."""
