"""chaoskit.export: an experiment as another tool's input.

    chaos_mesh.export_chaos_mesh(experiment, options) -> Export   Kubernetes + Chaos Mesh manifests
    timeline.flatten(experiment) -> list[Step]                   the schedule as fixed (start, length) steps
    validate.validate_manifests(docs) -> list[str]               schema problems (empty = valid)

Command: `chaoskit export chaos-mesh EXPERIMENT.yaml` (chaoskit/export/cli.py); docs/kubernetes.md.
"""
