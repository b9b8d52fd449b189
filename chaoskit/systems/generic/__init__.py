"""The generic system: any program described in YAML (`system: {kind: generic, ...}`).

See docs/systems.md for the fields; `spec` parses and checks them, `adapter` runs
them (GenericAdapter, registered as kind `generic`).
"""
