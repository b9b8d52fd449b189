"""The load side of a Chaos Mesh export: Locust's distributed mode on Kubernetes.

- ConfigMap `<name>-load`: the load plan (every node reached through its
  Service), the resolved experiment and the flattened schedule;
- Job `<name>-locust-master` + Service: `python3 -m chaoskit.export.locust_master`
  runs the Locust master, which records history.jsonl, load-summary.json and the
  Locust CSVs into /results, writes events.jsonl (run-start, load-start, load-stop)
  and clock.json (the history's time base against the wall clock), then waits so
  the results can be copied out (`kubectl cp`);
- one worker Deployment per region with clients, labelled with its region.

Locust spreads users over workers by class, not by the worker's region, so a
worker may run another region's users; the region of an operation is the user's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaoskit.export.timeline import Step

MASTER_LINGER_S = 3600  # how long the finished master waits for `kubectl cp`


def _name(ctx: Any, *parts: str) -> str:
    from chaoskit.export.chaos_mesh import k8s_name

    return k8s_name(ctx.experiment.name, *parts)


def load_plan(ctx: Any) -> dict[str, Any]:
    """The LoadPlan (as JSON) of the exported run: nodes at their Services' names."""
    from chaoskit.engine import workload_spec
    from chaoskit.export.chaos_mesh import service_name
    from chaoskit.load.plan import LoadPlan

    exp, opts = ctx.experiment, ctx.options
    view = {
        node.name: {
            port: f"{service_name(exp, node.name)}.{opts.namespace}.svc:{number}"
            for port, number in opts.ports.items()
        }
        for node in exp.topology.nodes
    }
    users = {r: n for r, n in exp.topology.clients.items() if n > 0}
    plan = LoadPlan(
        system_kind=exp.system.kind,
        system_options=dict(exp.system.options),
        views={region: view for region in exp.topology.region_names},
        users=users,
        workload=workload_spec(exp.load, exp.seed),
        t0_ns=0,  # set by locust_master when the load starts
        out_dir=Path("/results"),
        workers=0,
        remote_workers=len(users),
        master_bind_host="*",
        master_port=opts.master_port,
        worker_wait_s=300.0,
    )
    plan.validate()
    return plan.to_dict()


def schedule_json(steps: list[Step]) -> list[dict[str, Any]]:
    return [
        {
            "id": s.fault_id,
            "fault": s.fault.kind,
            "params": s.fault.params,
            "start_s": s.start_s,
            "length_s": s.length_s,
        }
        for s in steps
    ]


def objects(ctx: Any, steps: list[Step]) -> list[dict[str, Any]]:
    from chaoskit.experiment import resolved_yaml
    from chaoskit.export.chaos_mesh import REGION_LABEL, _meta

    opts = ctx.options
    config = _name(ctx, "load")
    master = _name(ctx, "locust-master")
    plan = load_plan(ctx)
    image = {"image": opts.image, "imagePullPolicy": "IfNotPresent"}
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(ctx, config),
            "data": {
                "load-plan.json": json.dumps(plan, indent=1, default=str),
                "experiment.yaml": resolved_yaml(ctx.experiment),
                "schedule.json": json.dumps(schedule_json(steps), indent=1),
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(ctx, master),
            "spec": {
                "selector": {"chaoskit.io/locust": master},
                "ports": [
                    {"name": "locust", "port": opts.master_port, "targetPort": opts.master_port}
                ],
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta(ctx, master),
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": {"chaoskit.io/locust": master}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "master",
                                **image,
                                "command": [
                                    "python3",
                                    "-m",
                                    "chaoskit.export.locust_master",
                                    "--plan",
                                    "/plan/load-plan.json",
                                    "--out",
                                    "/results",
                                    "--linger",
                                    str(MASTER_LINGER_S),
                                ],
                                "ports": [{"name": "locust", "containerPort": opts.master_port}],
                                "volumeMounts": [
                                    {"name": "plan", "mountPath": "/plan", "readOnly": True},
                                    {"name": "results", "mountPath": "/results"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "plan", "configMap": {"name": config}},
                            {"name": "results", "emptyDir": {}},
                        ],
                    },
                },
            },
        },
    ]
    for region in plan["users"]:
        worker = _name(ctx, "locust", region)
        labels = {"chaoskit.io/locust": worker, REGION_LABEL: region}
        out.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta(ctx, worker),
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"chaoskit.io/locust": worker}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": "worker",
                                    **image,
                                    "command": [
                                        "python3",
                                        "-m",
                                        "chaoskit.load.runner",
                                        "--role",
                                        "worker",
                                        "--master-host",
                                        f"{master}.{opts.namespace}.svc",
                                        "--master-port",
                                        str(opts.master_port),
                                        "--clock",
                                        "sync",
                                    ],
                                }
                            ]
                        },
                    },
                },
            }
        )
    return out
