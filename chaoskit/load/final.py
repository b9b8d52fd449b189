"""The final read phase: after healing, read every key from every region.

Runs in the engine's process (plain threads, no Locust): one thread and one
history process per region, records appended to history.jsonl with
"phase": "final". A read that fails or times out is retried a few times; each
attempt is recorded honestly, and after an `info` the region continues as a new
process (docs/contracts.md).
"""

from __future__ import annotations

import threading
import time

from chaoskit.load.clients import adapter_class, client_node, make_client
from chaoskit.load.history import HistoryFile, Recorder, scan_history
from chaoskit.load.plan import LoadPlan
from chaoskit.load.workloads import final_ops

ATTEMPTS = 5
RETRY_PAUSE_S = 0.3
BUDGET_S = 60.0


def final_reads(
    plan: LoadPlan, attempts: int = ATTEMPTS, budget_s: float = BUDGET_S
) -> dict[str, dict[str, int]]:
    """Append the final reads to history.jsonl; returns per region {"ok", "failed"} key counts.

    Every region of the plan's views reads, with or without load users. Retries stop
    after `budget_s` (a region still cut off would otherwise cost keys x attempts x
    timeout); each remaining key then gets one attempt.
    """
    deadline = time.monotonic() + budget_s
    next_index, next_process = scan_history(plan.history_path)
    hist = HistoryFile(plan.history_path, start_index=next_index)
    recorder = Recorder(hist.write, plan.t0_ns, first_process=next_process)
    adapter = adapter_class(plan.system_kind)(plan.system_options)
    regions = list(plan.views)
    result: dict[str, dict[str, int]] = {}
    errors: list[BaseException] = []

    def one_region(region: str) -> None:
        ok = failed = 0
        process = -1
        client = make_client(plan, region, adapter)
        try:
            process = recorder.new_process()
            for f, key, value in final_ops(plan.workload.workload, plan.workload.keys):
                for attempt in range(attempts):
                    recorder.invoke(
                        process, f, key, value, region, client_node(client), phase="final"
                    )
                    try:
                        out = client.invoke(f, key, value)
                        typ, val, err = out.type, out.value, out.error
                    except Exception as e:  # a client bug must not lose the record
                        typ, val, err = "info", None, f"{type(e).__name__}: {e}"
                    recorder.complete(process, typ, val, err, node=client_node(client))
                    if typ == "info":
                        process = recorder.new_process()
                    if typ == "ok":
                        ok += 1
                        break
                    if attempt + 1 >= attempts or time.monotonic() > deadline:
                        failed += 1  # given up on this key; its attempts are all recorded
                        break
                    time.sleep(RETRY_PAUSE_S * (attempt + 1))
        except BaseException as e:
            errors.append(e)
        finally:
            if process in recorder.in_flight:  # only ours: other regions share the recorder
                recorder.complete(process, "info", error="final read interrupted")
            try:
                client.close()
            except Exception:
                pass
            result[region] = {"ok": ok, "failed": failed}

    threads = [threading.Thread(target=one_region, args=(r,), name=f"final-{r}") for r in regions]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        hist.close()
    if errors:
        raise errors[0]
    return result
