"""Check deploy/k8s/values.yaml against the Dagster chart's own schema, offline.

    helm pull dagster/dagster --version 1.13.27 --untar     # -> dagster/values.schema.json
    .venv/bin/python deploy/k8s/check_values.py dagster/values.schema.json [deploy/k8s/values.yaml]

1. Every key we set must be declared in the schema (many chart objects allow unknown keys, which
   helm then silently ignores, so this walk catches typos that validation cannot).
2. If jsonschema is importable: our values merged over the chart's values.yaml beside the schema
   (as helm merges them) must validate, for the chart and for the dagster-user-deployments subchart
   (charts/dagster-user-deployments/). Remote Kubernetes $refs are dropped (no network): the shapes
   of env entries, probes and resources are not checked.
Exit 0 when both pass.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import yaml


def offline(node):
    if isinstance(node, dict):
        return {k: offline(v) for k, v in node.items() if not (k == "$ref" and str(v).startswith("http"))}
    return [offline(v) for v in node] if isinstance(node, list) else node


def merge(base, over):  # helm: maps merge, anything else (lists too) replaces, null deletes
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def branches(node, root):
    """The object schemas a value may match: $ref followed, anyOf/oneOf/allOf flattened."""
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        node = {**(root.get("$defs") or root.get("definitions"))[name], **{k: v for k, v in node.items() if k != "$ref"}}
    found = [node] if "properties" in node or "items" in node else []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            found += branches(sub, root)
    return found


def walk(value, node, root, where, unknown):
    options = branches(node, root)
    if isinstance(value, dict):
        declared = [o["properties"] for o in options if o.get("properties")]
        if not declared:  # free-form object (env map, resources, annotations...)
            return
        for k, v in value.items():
            subs = [p[k] for p in declared if k in p]
            if not subs:
                unknown.append(f"{where}.{k}".lstrip("."))
            for sub in subs:
                walk(v, sub, root, f"{where}.{k}", unknown)
    elif isinstance(value, list):
        for o in options:
            if "items" in o:
                for i, v in enumerate(value):
                    walk(v, o["items"], root, f"{where}[{i}]", unknown)


def check(label, schema_path: Path, ours: dict, passed_on=()) -> int:
    """`passed_on`: keys that helm hands on to a subchart, whose own check declares them."""
    schema = offline(json.loads(schema_path.read_text()))
    unknown: list[str] = []
    walk(ours, schema, schema, "", unknown)
    unknown = [k for k in unknown if k not in passed_on]
    print(f"[{label}] keys not in {schema_path}: {unknown or 'none'}")
    problems = len(unknown)
    try:
        import jsonschema
    except ImportError:
        print(f"[{label}] jsonschema not installed: merged-values validation skipped")
        return problems
    defaults_path = schema_path.with_name("values.yaml")
    defaults = yaml.safe_load(defaults_path.read_text()) if defaults_path.exists() else {}
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(merge(defaults or {}, ours)), key=lambda e: list(e.absolute_path))
    for e in errors:
        print(f"[{label}] {'.'.join(map(str, e.absolute_path)) or '<top>'}: {e.message[:300]}")
    print(f"[{label}] merged over {defaults_path.name if defaults else 'no defaults'}: "
          f"{len(errors)} schema error(s) ({type(validator).__name__})")
    return problems + len(errors)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    schema = Path(argv[0])
    ours = yaml.safe_load(Path(argv[1] if len(argv) > 1 else Path(__file__).with_name("values.yaml")).read_text())
    sub = schema.parent / "charts" / "dagster-user-deployments" / "values.schema.json"
    section = ours.get("dagster-user-deployments", {})
    sub_keys = set(json.loads(sub.read_text())["properties"]) if sub.exists() else set()
    problems = check("dagster", schema, ours, [f"dagster-user-deployments.{k}" for k in sub_keys])
    if sub.exists() and section:
        sub_values = {k: v for k, v in section.items() if k not in ("enabled", "enableSubchart")}
        problems += check("dagster-user-deployments", sub, {**sub_values, "global": ours.get("global", {})})
    print("OK" if not problems else f"{problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
