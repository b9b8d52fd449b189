"""Test support shipped with chaoskit: nothing in the rest of the package imports it.

geokv.py       GeoKVCluster (geokv nodes as local processes), HistoryRecorder, run_load
fakekv.py      a one-lock key-value server and its adapter, for load-runner tests
synthetic.py   simulated run directories (history, events, experiment) for the report
simulate.py    simulated register/set histories with known verdicts, for the checker
histories.py   history_of: a History from compact tuples, for hand-written cases
txn_histories.py  txn_history: transactional histories from compact "ax1 ry12" text
txn_simulate.py   strict serializable transactional histories, known anomalies to inject
postgres.py    local_postgres (a throwaway server) and LocalPostgresAdapter (for load runs)
txn_drive.py   drive a transactional workload into PostgreSQL with threads
docker.py      leftover detection for Docker resources a test created
procs.py       process state, liveness and descendants from /proc
links.py       EchoServer / TcpServer: upstreams to put behind a link
"""
