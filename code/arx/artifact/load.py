"""Safe loading of the artifact's YAML/JSON files into the pydantic models.

Every problem becomes an :class:`ArtifactError` whose one-line message names the file (with the YAML line),
the field and the fix, so a person or an agent can act on it without reading a traceback. YAML goes through
``SafeLoader`` only: no tag can construct arbitrary Python objects.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .diagnostics import ArtifactError, Problems
from .schema import Claim, ExplorationNode, Manifest, Paper

M = TypeVar("M", bound=BaseModel)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MANIFEST = "ara.yaml"


# ---------------------------------------------------------------------------------------------- root
def find_root(start: Path | None = None) -> Path:
    """The artifact root: ``$ARX_ROOT`` or the nearest directory upwards holding ``ara.yaml``."""
    env = os.environ.get("ARX_ROOT")
    if env:
        root = Path(env).resolve()
        if not (root / MANIFEST).is_file():
            raise ArtifactError(root / MANIFEST, None, "ARX_ROOT points to a directory without ara.yaml",
                                "unset ARX_ROOT or point it at the artifact root", code="ARX110")
        return root
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / MANIFEST).is_file():
            return d
    raise ArtifactError(here, None, "no ara.yaml in this directory or any parent",
                        "run arx inside the artifact (the directory holding ara.yaml) or set ARX_ROOT", code="ARX110")


def rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------- YAML
@dataclass
class YamlDoc:
    """Parsed YAML plus the line of every mapping key, for error messages."""

    path: Path
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)

    def line_of(self, loc: tuple) -> int | None:
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


def _index_lines(node: yaml.Node, loc: tuple, out: dict[tuple, int], path: Path, seen_nodes: set[int]) -> None:
    out.setdefault(loc, node.start_mark.line + 1)
    if id(node) in seen_nodes:  # an alias of an anchor already indexed (also stops recursive anchors)
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            if key == "<<":  # merge key: its entries may be overridden here, which is not a duplicate
                continue
            if key in keys:
                raise ArtifactError(path, ".".join(map(str, loc + (key,))), "duplicate key in YAML mapping",
                                    "keep only one occurrence of the key", line=k.start_mark.line + 1, code="ARX105")
            keys.add(key)
            out[loc + (key,)] = k.start_mark.line + 1
            _index_lines(v, loc + (key,), out, path, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _index_lines(v, loc + (i,), out, path, seen_nodes)


def read_yaml(path: Path, display: str | None = None) -> YamlDoc:
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(shown, None, "file not found", "create it or fix the path", code="ARX101") from None
    except UnicodeDecodeError as e:
        raise ArtifactError(shown, None, f"not UTF-8 text ({e.reason})", "save the file as UTF-8", code="ARX102") from None
    loader = _Loader(text)
    lines: dict[tuple, int] = {}
    try:
        node = loader.get_single_node()
        if node is not None:  # index before constructing: construction flattens merge keys (<<) into the node
            _index_lines(node, (), lines, Path(shown), set())
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = " ".join(x for x in (e.context, e.problem) if x) or "malformed YAML"
        raise ArtifactError(shown, None, f"malformed YAML: {msg}", "fix the YAML syntax at that line",
                            line=mark.line + 1 if mark else None, code="ARX103") from None
    except yaml.YAMLError as e:
        raise ArtifactError(shown, None, f"malformed YAML: {e}", "fix the YAML syntax", code="ARX103") from None
    finally:
        loader.dispose()
    return YamlDoc(Path(shown), data, lines)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _inner(tp: Any) -> Any:
    """The value type of a dict / list / Optional annotation."""
    args = [a for a in get_args(tp) if a is not type(None)]
    return args[-1] if args else None


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model holding the field at ``loc`` (through nested models, dict values and list items)."""
    current: Any = model
    for part in loc[:-1]:
        if _is_model(current):
            field_info = current.model_fields.get(str(part))
            if field_info is None:
                return None
            current = field_info.annotation
        else:  # ``part`` is a dict key or list index
            current = _inner(current)
        while current is not None and not _is_model(current) and get_origin(current) not in (dict, list):
            current = _inner(current)  # unwrap Optional
    return current if _is_model(current) else None


def _fix_for(err: ErrorDetails, model: type[BaseModel]) -> str:
    kind = err["type"]
    if kind in ("extra_forbidden", "missing"):
        holder = _model_at(model, tuple(err["loc"]))
        allowed = f"; fields of {holder.__name__}: {', '.join(holder.model_fields)}" if holder else ""
        verb = "add the field"
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(str(err["loc"][-1]), list(holder.model_fields) if holder else [], 1)
            verb = f"did you mean {close[0]!r}?" if close else "remove the field or correct its spelling"
        return f"{verb}{allowed}"
    if kind == "literal_error":
        return "use one of the allowed values"
    return f"give a value matching the {model.__name__} schema (`arx schema`)"


def validate(model: type[M], data: Any, display: str, doc: YamlDoc | None = None) -> M:
    """Validate ``data`` against ``model``; the first error becomes an ArtifactError with file:line."""
    if data is None:
        raise ArtifactError(display, None, "file is empty", f"write a {model.__name__} mapping (see `arx schema`)", code="ARX106")
    if not isinstance(data, dict):
        raise ArtifactError(display, None, f"top level is a {type(data).__name__}, expected a mapping",
                            f"write a {model.__name__} mapping (see `arx schema`)", code="ARX106")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        # a misspelt field shows up as extra + missing: report the extra one, it names what to change
        err = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        loc = tuple(err["loc"])
        fieldname = ".".join(str(x) for x in loc) or None
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        line = doc.line_of(loc) if doc else None
        more = len(e.errors()) - 1
        if more:
            msg += f" (+{more} more error{'s' if more > 1 else ''})"
        raise ArtifactError(display, fieldname, msg, _fix_for(err, model), line=line, code="ARX107") from None


def load_model(model: type[M], path: Path, root: Path | None = None) -> M:
    display = rel(path, root) if root else str(path)
    doc = read_yaml(path, display)
    return validate(model, doc.data, display, doc)


def read_json(path: Path, display: str | None = None) -> Any:
    shown = display or str(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(shown, None, "file not found", "produce it by running its rule", code="ARX101") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(shown, None, f"malformed JSON: {e}", "re-run the rule that writes it", code="ARX104") from None


# ---------------------------------------------------------------------------------------------- artifact
@dataclass
class Artifact:
    """Everything in ``ara.yaml`` and ``logic/``, validated."""

    root: Path
    manifest: Manifest
    papers: dict[str, Paper]
    claims: dict[str, Claim]
    claim_files: dict[str, str]
    missing_papers: list[str] = field(default_factory=list)
    warnings: list[ArtifactError] = field(default_factory=list, repr=False)

    def scale(self, name: str | None) -> str:
        scale = name or self.manifest.default_scale
        if scale not in self.manifest.scales:
            raise ArtifactError(MANIFEST, "scales", f"unknown scale {scale!r}",
                                f"use one of {', '.join(self.manifest.scales)}", code="ARX205")
        return scale

    def seeds(self, scale: str) -> list[int]:
        """The seeds every claim is decided over at ``scale`` (``ara.yaml`` scales.<scale>.seeds)."""
        return self.manifest.scales[scale].seeds


def load_manifest(root: Path) -> Manifest:
    return load_model(Manifest, root / MANIFEST, root)


CLAIMS_DIR = Path("logic") / "claims"


def claim_paths(root: Path) -> list[Path]:
    return sorted((root / CLAIMS_DIR).glob("*.yaml"))


def stray_claim_files(root: Path) -> list[ArtifactError]:
    """Files in logic/claims/ that are not ``*.yaml`` (a claim saved as ``.yml`` used to vanish from review)."""
    folder = root / CLAIMS_DIR
    stray = sorted(p for p in folder.iterdir() if p.suffix != ".yaml" and not p.name.startswith(".")) \
        if folder.is_dir() else []
    return [ArtifactError(rel(p, root), None, "is not a claim file: arx reads only logic/claims/*.yaml",
                          f"rename it to {p.stem}.yaml" if p.suffix == ".yml" else "move it out of logic/claims/",
                          code="ARX109") for p in stray]


def load_claim(path: Path, root: Path) -> Claim:
    claim = load_model(Claim, path, root)
    check_claim_id(claim, path, root)
    return claim


def check_claim_id(claim: Claim, path: Path, root: Path) -> None:
    if claim.id != path.stem:
        raise ArtifactError(rel(path, root), "id", f"id {claim.id!r} differs from the file name {path.stem!r}",
                            f"rename the file to {claim.id}.yaml or set id: {path.stem}", code="ARX111")


def load_artifact(root: Path | None = None) -> Artifact:
    """Load and validate manifest, papers and claims, including cross references and dependency cycles.

    Every problem of papers and claims is collected and raised together (:class:`ArtifactErrors`); warnings
    stay on the returned artifact. Only an unreadable ``ara.yaml`` stops at once: nothing else can be read.
    """
    root = root or find_root()
    manifest = load_manifest(root)
    problems = Problems()
    papers: dict[str, Paper] = {}
    missing = []
    for pid in manifest.papers:
        path = root / "logic" / "papers" / f"{pid}.yaml"
        if not path.is_file():
            missing.append(pid)
            problems.add(ArtifactError(MANIFEST, "papers", f"lists paper {pid!r}, whose file logic/papers/{pid}.yaml "
                                       "does not exist yet", f"write logic/papers/{pid}.yaml", code="ARX202"))
            continue
        with problems.collect():
            paper = load_model(Paper, path, root)
            if paper.id != pid:
                raise ArtifactError(rel(path, root), "id", f"id {paper.id!r} differs from the file name {pid!r}",
                                    f"set id: {pid}", code="ARX111")
            papers[pid] = paper
    for stray in stray_claim_files(root):
        problems.add(stray)
    paths = claim_paths(root)
    if not paths:
        problems.add(ArtifactError(CLAIMS_DIR.as_posix(), None, "holds no claim: an artifact without claims has "
                                   "nothing to review", "write one with `arx new-claim`", code="ARX214"))
    loaded: list[tuple[Path, Claim]] = []
    unreadable: set[str] = set()
    for path in paths:
        with problems.collect():
            loaded.append((path, load_model(Claim, path, root)))
            continue
        unreadable.add(path.stem)
    claims: dict[str, Claim] = {}
    files: dict[str, str] = {}
    for path, claim in loaded:  # duplicates first: a copied file is a duplicate before it is a misnamed file
        if claim.id in files:
            first = root / files[claim.id]
            dup, other = (path, first) if path.stem != claim.id else (first, path)
            problems.add(ArtifactError(rel(dup, root), "id", f"duplicate claim id {claim.id!r} (also in "
                                       f"{rel(other, root)})", "give each claim a unique id equal to its file name",
                                       code="ARX112"))
            files[claim.id] = rel(other, root)  # the copy is reported once, as the duplicate
            continue
        files[claim.id] = rel(path, root)
    for path, claim in loaded:
        if files.get(claim.id) == rel(path, root):
            with problems.collect():
                check_claim_id(claim, path, root)
            claims[claim.id] = next(c for p, c in loaded if rel(p, root) == files[claim.id])
    art = Artifact(root, manifest, papers, claims, files, missing)
    check_references(art, problems, unreadable)
    problems.raise_errors()
    art.warnings = problems.warnings
    return art


def check_references(art: Artifact, problems: Problems, unreadable: frozenset[str] | set[str] = frozenset()) -> None:
    """Papers, dependencies and scales a claim names exist; nothing in it is vacuous. ``unreadable``: claim
    files that failed to load (their own error is reported; a dependency on them is not a second one)."""
    scales = art.manifest.scales
    for cid, claim in art.claims.items():
        f = art.claim_files[cid]
        if claim.paper in art.missing_papers:
            problems.add(ArtifactError(f, "paper", f"cites paper {claim.paper!r}, whose file logic/papers/"
                                       f"{claim.paper}.yaml does not exist", f"add logic/papers/{claim.paper}.yaml",
                                       code="ARX201"))
        elif claim.paper not in art.papers and claim.paper not in art.manifest.papers:
            problems.add(ArtifactError(f, "paper", f"cites paper {claim.paper!r}, which is not in ara.yaml papers",
                                       f"use one of {', '.join(art.papers) or '(none)'} or add the paper",
                                       code="ARX201"))
        for dep in claim.depends_on:
            if dep not in art.claims and dep not in unreadable:
                problems.add(ArtifactError(f, "depends_on", f"depends on claim {dep!r}, which has no file "
                                           f"logic/claims/{dep}.yaml", "fix the id or add the claim", code="ARX203"))
        for scale in claim.checks:
            if scale not in scales:
                problems.add(ArtifactError(f, f"checks.{scale}", f"unknown scale {scale!r}",
                                           f"use one of {', '.join(scales)}", code="ARX205"))
        if claim.paper in art.papers:
            for problem in vacuous_problems(claim, art.papers[claim.paper], f):
                problems.add(problem)
    cycle = find_cycle({cid: [d for d in c.depends_on if d in art.claims] for cid, c in art.claims.items()})
    if cycle:
        problems.add(ArtifactError(art.claim_files[cycle[0]], "depends_on", f"dependency cycle {' -> '.join(cycle)}",
                                   "remove one depends_on edge of the cycle", code="ARX204"))


def _strings(value: Any, where: str) -> list[tuple[str, str]]:
    """Every string in a dumped model with its dotted field name."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{where}.{i}")]
    return []


RECALLED = "recalled"


def _normalised(text: str) -> str:
    return " ".join(text.split())


def vacuous_problems(claim: Claim, paper: Paper, source: str) -> list[ArtifactError]:
    """A claim that says nothing cannot be reproduced: no TODO left, the statement, falsification and quote
    written, and a quote from the abstract standing verbatim (whitespace aside) in the paper's abstract sentences;
    a quote declared ``recalled`` (not checked against any text) is a warning.

    Why: an untouched ``arx new-claim`` scaffold used to pass validation and be computed as reproduced.
    """
    problems = []
    dumped = claim.model_dump(mode="json", exclude={"history"})
    for field_, text in _strings(dumped, ""):
        if "TODO" in text:
            problems.append(ArtifactError(source, field_, "still holds a TODO from the scaffold", "write the real text",
                                          code="ARX206"))
    for field_, text in (("statement", claim.statement), ("falsification", claim.falsification),
                         ("paper_reports.quote", claim.paper_reports.quote),
                         ("paper_reports.figure", claim.paper_reports.figure)):
        if not text.strip():
            problems.append(ArtifactError(source, field_, "is empty", "say it in a sentence: a claim must be "
                                          "falsifiable", code="ARX207"))
    where = claim.paper_reports.source
    if where == "abstract" and claim.paper_reports.quote.strip() and not any(
            _normalised(claim.paper_reports.quote) in _normalised(s) for s in paper.abstract_sentences):
        problems.append(ArtifactError(source, "paper_reports.quote", f"is not verbatim in the abstract_sentences of "
                                      f"logic/papers/{paper.id}.yaml", "quote the abstract exactly, or set "
                                      "paper_reports.source to where the sentence comes from (e.g. 'Section 4.2' or "
                                      "'recalled')", code="ARX208"))
    elif where == RECALLED:
        problems.append(ArtifactError(source, "paper_reports.source", "the quote is recalled, not checked against "
                                      "the paper's text", "quote the abstract or name the section it comes from",
                                      code="ARX209"))
    return problems


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle as a closed list of ids (first == last), or None. Iterative DFS."""
    state: dict[str, int] = {}
    for start in sorted(edges):
        if state.get(start):
            continue
        stack = [(start, iter(edges.get(start, ())))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(edges.get(nxt, ()))))
                path.append(nxt)
    return None


def load_node(path: Path, root: Path) -> ExplorationNode:
    return load_model(ExplorationNode, path, root)


def read_scale_config(root: Path, scale: str) -> tuple[str, Any]:
    """(path, parsed document) of a scale's config file (``ara.yaml`` → ``scales.<scale>.config``); an unknown
    scale is one error listing the known ones."""
    manifest = load_manifest(root)
    if scale not in manifest.scales:
        raise ArtifactError("ara.yaml", "scales", f"unknown scale {scale!r}",
                            f"use one of {', '.join(manifest.scales)}", code="ARX205")
    scale_file = manifest.scales[scale].config
    return scale_file, read_yaml(root / scale_file, scale_file)
