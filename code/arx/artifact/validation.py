"""JSON Schemas generated from the pydantic models, and validation through both.

``logic/schemas/*.schema.json`` are build outputs (``arx schema --write``), never edited by hand; a test fails
when they drift from the models. ``arx validate`` checks every file with pydantic *and* ``jsonschema`` so the
published schemas are known to describe what arx accepts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from .diagnostics import ArtifactError, Problems
from .exploration import NODES
from .load import MANIFEST, Artifact, find_cycle, load_artifact, load_node, read_json, read_yaml, rel, validate
from .resources import scale_resources
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
                        "pass ara.yaml, logic/papers|claims/*.yaml, exploration/nodes/*.yaml or evidence/**/*.json",
                        code="ARX109")


def _jsonschema_check(root: Path, kind: str, data: Any, shown: str) -> None:
    import jsonschema

    path = root / SCHEMA_DIR / f"{kind}.schema.json"
    if not path.is_file():
        raise ArtifactError(rel(path, root), None, "JSON Schema missing", "run `arx schema --write`", code="ARX108")
    validator = jsonschema.Draft202012Validator(json.loads(path.read_text()))
    err = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if err is not None:
        field = ".".join(map(str, err.absolute_path)) or None
        raise ArtifactError(shown, field, f"JSON Schema: {err.message}", f"match {rel(path, root)}", code="ARX108")


def validate_files(root: Path, files: list[Path], problems: Problems | None = None) -> list[str]:
    """Each file through pydantic and JSON Schema; every file's problem collected (raised at the end when no
    ``problems`` collector is given)."""
    own = problems is None
    problems = problems if problems is not None else Problems()
    checked = []
    for f in files:
        full = f if f.is_absolute() else Path.cwd() / f
        shown = rel(full, root)
        with problems.collect():
            kind = kind_of(shown)
            if full.suffix == ".json":
                data, doc = read_json(full, shown), None
            else:
                doc = read_yaml(full, shown)
                data = doc.data
            model = validate(SCHEMA_MODELS[kind], data, shown, doc)
            if isinstance(model, Claim) and model.id != full.stem:
                raise ArtifactError(shown, "id", f"id {model.id!r} differs from the file name {full.stem!r}",
                                    f"rename the file to {model.id}.yaml or set id: {full.stem}", code="ARX111")
            _jsonschema_check(root, kind, data, shown)
            checked.append(shown)
    if own:
        problems.raise_errors()
    return checked


def graph_problems(root: Path, claim_ids: set[str] | None = None) -> tuple[list[str], Problems]:
    """The exploration graph: node schema, ids equal to file names, parents and cited claims that exist
    (``claim_ids``; None skips that check), no cycles. Returns the node ids and the problems found."""
    problems = Problems()
    nodes = {}
    for path in sorted((root / NODES).glob("*.yaml")):
        with problems.collect():
            node = load_node(path, root)
            if node.id != path.stem:
                raise ArtifactError(rel(path, root), "id", f"id {node.id!r} differs from the file name",
                                    f"set id: {path.stem}", code="ARX111")
            nodes[node.id] = node
    for node in nodes.values():
        source = f"exploration/nodes/{node.id}.yaml"
        for p in node.parents:
            if p not in nodes:
                problems.add(ArtifactError(source, "parents", f"parent {p!r} does not exist",
                                           "fix the id (see `arx trace`)", code="ARX301"))
        for c in node.claims if claim_ids is not None else ():
            if claim_ids is not None and c not in claim_ids:
                problems.add(ArtifactError(source, "claims", f"cites claim {c!r}, which has no file "
                                           f"logic/claims/{c}.yaml", "fix the id (see `arx status`) or drop it",
                                           code="ARX303"))
    cycle = find_cycle({i: [p for p in n.parents if p in nodes] for i, n in nodes.items()})
    if cycle:
        problems.add(ArtifactError(f"exploration/nodes/{cycle[0]}.yaml", "parents", f"cycle {' -> '.join(cycle)}",
                                   "remove one parent edge of the cycle", code="ARX302"))
    return list(nodes), problems


def check_graph(root: Path, claim_ids: set[str] | None = None) -> list[str]:
    """:func:`graph_problems`, raising every problem at once."""
    ids, problems = graph_problems(root, claim_ids)
    problems.raise_errors()
    return ids


def decision_problem(claim: Claim, scale: str, seeds: list[int], source: str) -> ArtifactError | None:
    """A check's decision rule that cannot decide with the scale's seeds (seeds_passing with a bad ``min``)."""
    check = claim.checks.get(scale)
    if check is None or check.decision.kind != "seeds_passing":
        return None
    k, n = check.decision.min, len(seeds)
    if n / 2 < k <= n:
        return None
    return ArtifactError(source, f"checks.{scale}.decision.min", f"min {k} does not fit the {n} seeds of scale "
                         f"{scale} (it must be more than {n / 2:g} and at most {n})",
                         f"set min between {n // 2 + 1} and {n}", code="ARX210")


_RULE = re.compile(r"^\s*(?:rule|checkpoint)\s+(\w+)\s*:", re.M)


def workflow_rules(root: Path) -> set[str] | None:
    """Rule names defined literally (``rule <name>:``) in ``workflows/*.smk``; None for an artifact without them."""
    files = sorted((root / "workflows").glob("*.smk"))
    if not files:
        return None
    return {m for f in files for m in _RULE.findall(f.read_text(encoding="utf-8", errors="replace"))}


def static_problems(art: Artifact) -> Problems:
    """Everything review and validate check without reading evidence, collected in one pass: the exploration
    graph, decision rules against the scales' seeds, claim keys against the experiments' Metrics schemas, check
    rules against the workflow, and the artifact's load-time warnings. (Post-hoc checks need the evidence:
    review adds them.)"""
    _, problems = graph_problems(art.root, set(art.claims))
    for warning in art.warnings:
        problems.add(warning)
    rules = workflow_rules(art.root)
    for cid, claim in art.claims.items():
        source = art.claim_files[cid]
        for scale, check in claim.checks.items():
            if scale in art.manifest.scales:
                problem = decision_problem(claim, scale, art.seeds(scale), source)
                if problem:
                    problems.add(problem)
            if rules is not None and check.rule not in rules:
                problems.add(ArtifactError(source, f"checks.{scale}.rule", f"names rule {check.rule!r}, which no "
                                           "workflows/*.smk defines", "name a rule of the workflow (`snakemake "
                                           "--list-rules`) or add it", code="ARX212"))
    for problem in claim_key_problems(art.root, list(art.claims.values())):
        problems.add(problem)
    for problem in resource_problems(art, rules):
        problems.add(problem)
    return problems


def resource_problems(art: Artifact, rules: set[str] | None) -> list[ArtifactError]:
    """Each scale config's ``resources:`` parses, and names only rules the workflow defines."""
    out = []
    for scale, entry in art.manifest.scales.items():
        try:
            declared = scale_resources(art.root, scale)
        except ArtifactError as e:
            out.append(e)
            continue
        out += [ArtifactError(entry.config, f"resources.rules.{r}", "names no rule of workflows/*.smk (the rule "
                              "would silently keep the default)", "use a name from `snakemake --list-rules`",
                              code="ARX216")
                for r in declared.rules if rules is not None and r not in rules]
    return out


def validate_all(root: Path, strict: bool = False) -> tuple[list[str], list[ArtifactError]]:
    """The whole artifact, every problem at once: load (cross references), static checks, then every file
    through both validators. Returns the files checked and the warnings (``strict``: warnings fail too)."""
    problems = Problems()
    art = None
    with problems.collect():
        art = load_artifact(root)
    if art is not None:
        for problem in static_problems(art).items:
            problems.add(problem)
    files = [root / MANIFEST, *sorted((root / "logic" / "papers").glob("*.yaml")),
             *sorted((root / "logic" / "claims").glob("*.yaml")),
             *sorted((root / "exploration" / "nodes").glob("*.yaml")),
             *sorted((root / "evidence").rglob("metrics.json")),
             *sorted((root / "evidence" / "review").glob("*.json"))]
    checked = validate_files(root, files, problems)
    problems.raise_errors(strict)
    return checked, problems.warnings


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


def claim_key_problems(root: Path, claims: list[Claim]) -> list[ArtifactError]:
    """Every claim key/minus that does not exist in the Metrics schema of the experiment its evidence names.

    Skipped only for an artifact that ships no experiment schemas at all (``logic/schemas/experiments/``).
    """
    if not (root / EXPERIMENT_SCHEMAS).is_dir():
        return []
    problems: list[ArtifactError] = []
    for claim in claims:
        for scale, check in claim.checks.items():
            parts = PurePosixPath(check.evidence).parts
            experiment = parts[2] if len(parts) > 3 else None
            path = root / EXPERIMENT_SCHEMAS / f"{experiment}.metrics.schema.json"
            source = f"logic/claims/{claim.id}.yaml"
            if not path.is_file():
                problems.append(ArtifactError(source, f"checks.{scale}.evidence", f"no Metrics schema for experiment "
                                              f"{experiment!r}", "register it, then `python -m arx.experiments "
                                              "--write`", code="ARX211"))
                continue
            schema = json.loads(path.read_text())
            for cond in check.conditions():
                for field_, key, kind in (("key", cond.key, "number"), ("minus", cond.minus, "number"),
                                          ("items", cond.items, "array"), ("minus_items", cond.minus_items, "array")):
                    why = key and metric_key_problem(schema, key, kind)
                    if why:
                        problems.append(ArtifactError(source, f"checks.{scale}.{field_}", f"{why} in "
                                                      f"{rel(path, root)}", "name a metric the experiment reports",
                                                      code="ARX211"))
    return problems
