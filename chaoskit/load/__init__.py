"""The load package: Locust users per region, history recording, workloads, final reads.

The engine's API (none of it imports Locust; the load runs in its own processes):

    start_load(plan: LoadPlan) -> LoadRun      # returns once users are spawning
    LoadRun.wait(timeout_s) -> int / .stop() / .alive() / .history_path / .summary()
    final_reads(plan: LoadPlan) -> dict        # after healing; appends "phase": "final" records
"""

from chaoskit.load.control import LoadError, LoadRun, start_load
from chaoskit.load.final import final_reads
from chaoskit.load.plan import LoadPlan, PlanError, WorkloadSpec, views_from_plan

__all__ = [
    "LoadError",
    "LoadPlan",
    "LoadRun",
    "PlanError",
    "WorkloadSpec",
    "final_reads",
    "start_load",
    "views_from_plan",
]
