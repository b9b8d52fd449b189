"""chaoskit.links: the Toxiproxy-compatible link server and its control layer.

Server side (stdlib + aiohttp only, runs in the bookworm link container):
    chaoskit.links.server.LinkServer        in-process server (thread + own loop)
    python -m chaoskit.links --port-file F  the server as a process
Harness side:
    chaoskit.links.control.LinkControl      build / cut / heal / latency / toxics
See docs/links.md. Nothing is imported here, so importing a submodule stays light.
"""
