"""Schemas the exported manifests are validated against (see each file's header)."""
