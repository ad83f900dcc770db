"""JSON Schemas generated from the pydantic models, and validation through both.

``logic/schemas/*.schema.json`` are build outputs (``arx schema --write``), never edited by hand; a test fails
when they drift from the models. ``arx validate`` checks every file with pydantic *and* ``jsonschema`` so the
published schemas are known to describe what arx accepts.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from .load import MANIFEST, ArtifactError, load_artifact, read_json, read_yaml, rel, validate
from .schema import SCHEMA_MODELS, Claim

SCHEMA_DIR = Path("logic") / "schemas"


def schemas() -> dict[str, dict[str, Any]]:
    return {name: model.model_json_schema() for name, model in SCHEMA_MODELS.items()}


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(root: Path) -> list[str]:
    (root / SCHEMA_DIR).mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = root / SCHEMA_DIR / f"{name}.schema.json"
        path.write_text(render(schema))
        written.append(rel(path, root))
    return written


def schema_drift(root: Path) -> list[str]:
    """Schema files that are missing or differ from what the models generate."""
    drift = []
    for name, schema in schemas().items():
        path = root / SCHEMA_DIR / f"{name}.schema.json"
        if not path.is_file() or path.read_text() != render(schema):
            drift.append(rel(path, root))
    return drift


def kind_of(relpath: str) -> str:
    p = PurePosixPath(relpath)
    if relpath == MANIFEST:
        return "manifest"
    if p.parts[:2] == ("logic", "papers"):
        return "paper"
    if p.parts[:2] == ("logic", "claims"):
        return "claim"
    if p.parts[:2] == ("exploration", "nodes"):
        return "node"
    if p.parts[:2] == ("evidence", "review") and p.suffix == ".json":
        return "review"
    if p.parts[:1] == ("evidence",) and p.suffix == ".json":
        return "metrics"
    raise ArtifactError(relpath, None, "not a file arx knows how to validate",
                        "pass ara.yaml, logic/papers|claims/*.yaml, exploration/nodes/*.yaml or evidence/**/*.json")


def _jsonschema_check(root: Path, kind: str, data: Any, shown: str) -> None:
    import jsonschema

    path = root / SCHEMA_DIR / f"{kind}.schema.json"
    if not path.is_file():
        raise ArtifactError(rel(path, root), None, "JSON Schema missing", "run `arx schema --write`")
    validator = jsonschema.Draft202012Validator(json.loads(path.read_text()))
    err = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if err is not None:
        field = ".".join(map(str, err.absolute_path)) or None
        raise ArtifactError(shown, field, f"JSON Schema: {err.message}", f"match {rel(path, root)}")


def validate_files(root: Path, files: list[Path]) -> list[str]:
    checked = []
    for f in files:
        full = f if f.is_absolute() else Path.cwd() / f
        shown = rel(full, root)
        kind = kind_of(shown)
        if full.suffix == ".json":
            data, doc = read_json(full, shown), None
        else:
            doc = read_yaml(full, shown)
            data = doc.data
        model = validate(SCHEMA_MODELS[kind], data, shown, doc)
        if isinstance(model, Claim) and model.id != full.stem:
            raise ArtifactError(shown, "id", f"id {model.id!r} differs from the file name {full.stem!r}",
                                f"rename the file to {model.id}.yaml or set id: {full.stem}")
        _jsonschema_check(root, kind, data, shown)
        checked.append(shown)
    return checked


def validate_all(root: Path) -> list[str]:
    """The whole artifact: cross references (load_artifact), the graph, then every file through both validators."""
    from .review import check_graph, rule_problems

    art = load_artifact(root)
    if art.missing_papers:
        pid = art.missing_papers[0]
        raise ArtifactError(MANIFEST, "papers", f"paper {pid!r} has no file logic/papers/{pid}.yaml",
                            f"add logic/papers/{pid}.yaml or remove {pid!r} from papers")
    check_graph(root)
    for cid, claim in art.claims.items():  # a decision rule that cannot decide with the scale's seeds
        for scale in claim.checks.keys() & art.manifest.scales.keys():
            rule_problems(claim, scale, art.seeds(scale), art.claim_files[cid])
    key_problems = claim_key_problems(root, list(art.claims.values()))
    if key_problems:
        raise ArtifactError("logic/claims", "checks", f"{len(key_problems)} claim key(s) name no reported metric: "
                            + "; ".join(key_problems))
    files = [root / MANIFEST, *sorted((root / "logic" / "papers").glob("*.yaml")),
             *sorted((root / "logic" / "claims").glob("*.yaml")),
             *sorted((root / "exploration" / "nodes").glob("*.yaml")),
             *sorted((root / "evidence").rglob("metrics.json")),
             *sorted((root / "evidence" / "review").glob("*.json"))]
    return validate_files(root, files)




# ---------------------------------------------------------------------------------------------- metric keys
EXPERIMENT_SCHEMAS = SCHEMA_DIR / "experiments"


def _resolve(schema: dict, defs: dict) -> list[dict]:
    """The alternatives a schema node stands for ($ref followed, anyOf/oneOf flattened, null dropped)."""
    if "$ref" in schema:
        return _resolve(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    alts = schema.get("anyOf") or schema.get("oneOf")
    if alts:
        return [r for a in alts for r in _resolve(a, defs) if r.get("type") != "null"]
    return [schema]


def metric_key_problem(schema: dict, key: str, kind: str = "number") -> str | None:
    """Why dotted ``key`` cannot name a number (``kind="array"``: a list) in a Metrics schema (None when it can).

    Same matching as review's lookup: a property whose name holds dots (``tpr_at_0.01``) matches whole, a
    mapping (``additionalProperties``) accepts any name, a list any index.
    """
    defs = schema.get("$defs", {})
    parts = key.split(".")
    nodes, i = _resolve(schema, defs), 0
    while i < len(parts):
        step = None
        for node in nodes:
            props = node.get("properties", {})
            for j in range(len(parts), i, -1):
                if ".".join(parts[i:j]) in props:
                    step = (_resolve(props[".".join(parts[i:j])], defs), j)
                    break
            if step is None and isinstance(node.get("additionalProperties"), dict):
                step = (_resolve(node["additionalProperties"], defs), i + 1)
            if step is None and node.get("type") == "array" and parts[i].isdigit() and "items" in node:
                step = (_resolve(node["items"], defs), i + 1)
            if step:
                break
        if step is None:
            where = ".".join(parts[:i]) or "metrics"
            have = sorted({p for n in nodes for p in n.get("properties", {})})
            return f"{where} has no {parts[i]!r} (it has: {', '.join(have) or 'nothing'})"
        nodes, i = step
    types = ("array",) if kind == "array" else ("number", "integer")
    if not any(n.get("type") in types or n == {} for n in nodes):
        return f"{key!r} is not a {kind} in the schema (it is {', '.join(str(n.get('type')) for n in nodes)})"
    return None


def claim_key_problems(root: Path, claims: list[Claim]) -> list[str]:
    """Every claim key/minus that does not exist in the Metrics schema of the experiment its evidence names.

    Skipped only for an artifact that ships no experiment schemas at all (``logic/schemas/experiments/``).
    """
    if not (root / EXPERIMENT_SCHEMAS).is_dir():
        return []
    problems = []
    for claim in claims:
        for scale, check in claim.checks.items():
            parts = PurePosixPath(check.evidence).parts
            experiment = parts[2] if len(parts) > 3 else None
            path = root / EXPERIMENT_SCHEMAS / f"{experiment}.metrics.schema.json"
            source = f"logic/claims/{claim.id}.yaml"
            if not path.is_file():
                problems.append(f"{source}: checks.{scale}.evidence: no Metrics schema for experiment "
                                f"{experiment!r} (fix: register it, then `python -m arx.experiments --write`)")
                continue
            schema = json.loads(path.read_text())
            for cond in check.conditions():
                for field_, key, kind in (("key", cond.key, "number"), ("minus", cond.minus, "number"),
                                          ("items", cond.items, "array"), ("minus_items", cond.minus_items, "array")):
                    why = key and metric_key_problem(schema, key, kind)
                    if why:
                        problems.append(f"{source}: checks.{scale}.{field_}: {why} in {rel(path, root)} "
                                        f"(fix: name a metric the experiment reports)")
    return problems
