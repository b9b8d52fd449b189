"""Schema validation of exported manifests.

Built-in schemas (chaoskit/export/schemas/, each file's header names its version
and sources): Chaos Mesh v2.6 for chaos-mesh.org objects, Kubernetes v1.29 for
the rest. `crd_paths` adds the real published CustomResourceDefinitions (e.g.
Chaos Mesh's manifests/crd.yaml): every object whose kind one of them defines is
also checked against that CRD's openAPIV3Schema.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SCHEMA_FILES = {
    "chaos-mesh.org/v1alpha1": "chaos-mesh-v2.6.yaml",
    "v1": "kubernetes-v1.29.yaml",
    "apps/v1": "kubernetes-v1.29.yaml",
    "batch/v1": "kubernetes-v1.29.yaml",
}


@cache
def _schema_file(name: str) -> dict[str, Any]:
    text = resources.files("chaoskit.export.schemas").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _errors(schema: dict[str, Any], doc: dict[str, Any], label: str) -> list[str]:
    from jsonschema import Draft202012Validator

    v = Draft202012Validator(schema)
    out = []
    for e in sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in e.absolute_path) or "(object)"
        out.append(f"{label}: {path}: {e.message}")
    return out


def _name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def validate_builtin(docs: list[dict[str, Any]]) -> list[str]:
    """Problems of each object against the built-in schema of its kind."""
    out: list[str] = []
    for doc in docs:
        file = SCHEMA_FILES.get(str(doc.get("apiVersion")))
        schemas = _schema_file(file) if file else {}
        kind = doc.get("kind")
        if kind not in schemas.get("objects", {}):
            out.append(f"{_name(doc)}: no schema for {doc.get('apiVersion')} {kind}")
            continue
        root = {**schemas, "$ref": f"#/objects/{kind}"}
        out.extend(_errors(root, doc, _name(doc)))
    return out


def load_crds(paths: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, from CRD files or directories of them."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")) if p.is_dir() else [p])
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for f in files:
        out.update(_crd_file(str(f), f.stat().st_mtime_ns))
    return out


@cache
def _crd_file(path: str, mtime_ns: int) -> dict[tuple[str, str], dict[str, Any]]:
    """The schemas of one CRD file (parsed once per content version: Chaos Mesh's
    crd.yaml is ~3 MB, ~9 s to parse here)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        for doc in yaml.load_all(fh, Loader=loader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec.get("versions", []):
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema:
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    out[key] = schema
    return out


def validate_crds(
    docs: list[dict[str, Any]], crds: dict[tuple[str, str], dict[str, Any]]
) -> list[str]:
    """Problems against the published CRDs; an object whose kind has no CRD is one too."""
    out: list[str] = []
    for doc in docs:
        key = (str(doc.get("apiVersion")), str(doc.get("kind")))
        if not key[0].startswith("chaos-mesh.org/"):
            continue
        if key not in crds:
            out.append(f"{_name(doc)}: the CRD files define no {key[0]} {key[1]}")
            continue
        out.extend(_errors(crds[key], doc, f"{_name(doc)} (CRD)"))
    return out


def validate_manifests(
    docs: list[dict[str, Any]], crd_paths: list[Path] | None = None
) -> list[str]:
    """Every problem found (empty: valid)."""
    out = validate_builtin(docs)
    if crd_paths:
        out.extend(validate_crds(docs, load_crds(crd_paths)))
    return out
