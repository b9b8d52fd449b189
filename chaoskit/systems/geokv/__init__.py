"""geokv: the reference multi-region key-value store chaoskit tests itself against.

`python -m chaoskit.systems.geokv` runs one node (stdlib only: it must start in a
bare python3 container). Modes: `quorum` (CASPaxos per key, linearizable),
`lww` (active-active, last writer wins on the wall clock), `unit` (every key has
a home region whose primary orders it). See docs/geokv.md.

This package's __init__ imports nothing: the node, the client (loaded into
gevent-patched Locust processes) and the adapter each import only what they need.
"""
