"""Problems with the artifact's files, each with a stable code, reported all at once.

Why: a person fixing a broken merge, or an agent in a loop, wants every problem of one run in one list (like
ruff or ara-cli), each naming file, line, field and fix, with a code that does not change between releases so
it can be looked up (``arx codes``), filtered and counted. Errors make ``arx`` exit 2 (bad input) and write
nothing; warnings are shown and only fail under ``--strict``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Code:
    name: str
    severity: Severity
    summary: str


#: every diagnostic arx can report; codes are never reused or renumbered (add new ones at the end of a group)
CODES: dict[str, Code] = {
    # files
    "ARX101": Code("file-not-found", "error", "a file arx must read does not exist"),
    "ARX102": Code("not-utf8", "error", "a text file is not UTF-8"),
    "ARX103": Code("malformed-yaml", "error", "YAML that does not parse"),
    "ARX104": Code("malformed-json", "error", "JSON that does not parse"),
    "ARX105": Code("duplicate-key", "error", "a YAML mapping repeats a key"),
    "ARX106": Code("not-a-mapping", "error", "a file is empty or its top level is not a mapping"),
    "ARX107": Code("schema", "error", "a field is missing, unknown or of the wrong type (strict: no coercion)"),
    "ARX108": Code("json-schema", "error", "a file does not match its JSON Schema in logic/schemas/"),
    "ARX109": Code("unknown-file", "error", "a file arx does not read where it expects its own (e.g. *.yml)"),
    "ARX110": Code("no-artifact", "error", "no ara.yaml here or above, or ARX_ROOT points elsewhere"),
    "ARX111": Code("id-mismatch", "error", "an id differs from its file name"),
    "ARX112": Code("duplicate-id", "error", "two files declare the same id"),
    "ARX113": Code("evidence-path", "error", "an evidence path leaves evidence/"),
    "ARX114": Code("dvc-pointer", "error", "a .dvc pointer that is malformed or not a DVC output"),
    "ARX115": Code("unwritable", "error", "a file or directory arx must write cannot be written"),
    # claims
    "ARX201": Code("unknown-paper", "error", "a claim cites a paper that is not in ara.yaml or has no file"),
    "ARX202": Code("missing-paper-file", "warning", "ara.yaml lists a paper whose file is not written yet"),
    "ARX203": Code("unknown-claim", "error", "a depends_on names no claim"),
    "ARX204": Code("dependency-cycle", "error", "claims depend on each other in a cycle"),
    "ARX205": Code("unknown-scale", "error", "a scale that ara.yaml does not define"),
    "ARX206": Code("todo-left", "error", "a claim still holds a TODO from the scaffold"),
    "ARX207": Code("empty-text", "error", "a statement, falsification, quote or figure is empty"),
    "ARX208": Code("quote-not-verbatim", "error", "an abstract quote is not verbatim in the paper's abstract"),
    "ARX209": Code("recalled-quote", "warning", "a quote is recalled, not checked against the paper's text"),
    "ARX210": Code("decision-unfit", "error", "a decision rule cannot decide with the scale's seeds"),
    "ARX211": Code("unknown-metric", "error", "a claim key names no metric of its experiment's Metrics schema"),
    "ARX212": Code("unknown-rule", "error", "a check names a rule that no workflows/*.smk defines"),
    "ARX213": Code("rule-mismatch", "error", "a check's rule differs from the rule that produced its evidence"),
    "ARX214": Code("no-claims", "error", "logic/claims/ holds no claim"),
    "ARX215": Code("post-hoc", "warning", "a check was committed (or changed) after the evidence it judges"),
    "ARX216": Code("unknown-resource-rule", "error", "a scale config's resources.rules names no workflow rule"),
    # exploration graph
    "ARX301": Code("unknown-parent", "error", "a node's parent does not exist"),
    "ARX302": Code("graph-cycle", "error", "exploration nodes form a cycle"),
    "ARX303": Code("unknown-node-claim", "error", "a node cites a claim that does not exist"),
    # evidence contents
    "ARX401": Code("metric-missing", "error", "a claim's key is not in its metrics file"),
    "ARX402": Code("metric-not-number", "error", "a claim's key is not a number in its metrics file"),
    "ARX403": Code("items-malformed", "error", "per-item values that are not a list matching their mean"),
    # command line
    "ARX501": Code("unknown-id", "error", "a claim, node, rule or experiment id given on the command line"),
    "ARX502": Code("bad-option", "error", "an option value that is not allowed"),
    "ARX503": Code("unknown-revision", "error", "a git revision that is not a commit here"),
    "ARX504": Code("bad-config", "error", "a run config key or value an experiment does not accept"),
    "ARX505": Code("dvc", "error", "DVC not initialised or a dvc command failed"),
    "ARX506": Code("exists", "error", "a file arx would create exists already"),
    "ARX507": Code("device", "error", "the requested device is not available"),
    "ARX508": Code("git", "error", "git is missing or this is not a git repository"),
    "ARX509": Code("snakemake", "error", "Snakemake failed to plan or run"),
    # last resort
    "ARX900": Code("internal", "error", "an unforeseen failure inside arx (a bug: please report it)"),
}


class ArtifactError(Exception):
    """A bad input: one line naming file, field and fix, with a stable code. The CLI exits 2 on it."""

    def __init__(self, file: str | Path | None, field: str | None, message: str, fix: str | None = None,
                 line: int | None = None, *, code: str):
        if code not in CODES:
            raise ValueError(f"unknown diagnostic code {code}")
        self.file, self.field, self.message, self.fix, self.line, self.code = file, field, message, fix, line, code
        super().__init__(self.one_line())

    @property
    def severity(self) -> Severity:
        return CODES[self.code].severity

    def one_line(self) -> str:
        where = str(self.file) if self.file is not None else "arx"
        if self.line is not None:
            where += f":{self.line}"
        what = f" {self.field}:" if self.field else ""
        fix = f" (fix: {self.fix})" if self.fix else ""
        return f"{where}: {self.code}{what} {self.message}{fix}"

    def as_json(self) -> dict:
        """The error object every ``--json`` error uses."""
        return {"code": self.code, "severity": self.severity, "error": self.one_line(),
                "file": str(self.file) if self.file is not None else None, "line": self.line,
                "field": self.field, "message": self.message, "fix": self.fix}


class ArtifactErrors(ArtifactError):
    """Several problems found in one pass; behaves as its first for code that expects one."""

    def __init__(self, problems: list[ArtifactError]):
        first = problems[0]
        self.problems = problems
        super().__init__(first.file, first.field, first.message, first.fix, first.line, code=first.code)

    def one_line(self) -> str:
        more = len(self.problems) - 1
        return super().one_line() + (f" (+{more} more problem{'s' if more > 1 else ''})" if more else "")


def flatten(error: ArtifactError) -> list[ArtifactError]:
    return list(error.problems) if isinstance(error, ArtifactErrors) else [error]


class Problems:
    """Collects the problems of one pass so they can be reported together.

    ``with problems.collect(): ...`` records an ArtifactError raised inside instead of propagating it (the
    block is abandoned, the pass goes on with the next one); ``add`` records one directly.
    """

    def __init__(self) -> None:
        self.items: list[ArtifactError] = []

    @contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except ArtifactError as e:
            for problem in flatten(e):
                self.add(problem)

    def add(self, error: ArtifactError) -> None:
        """Record one problem; the same problem found by two checks (pydantic and JSON Schema) is kept once."""
        if all(e.one_line() != error.one_line() for e in self.items):
            self.items.append(error)

    @property
    def errors(self) -> list[ArtifactError]:
        return [e for e in self.items if e.severity == "error"]

    @property
    def warnings(self) -> list[ArtifactError]:
        return [e for e in self.items if e.severity == "warning"]

    def raise_errors(self, strict: bool = False) -> None:
        """Raise every error (and, with ``strict``, every warning) at once; nothing when there is none."""
        failing = self.items if strict else self.errors
        if failing:
            raise ArtifactErrors(failing) if len(failing) > 1 else failing[0]


def internal_error(exc: BaseException, during: str) -> ArtifactError:
    """An unforeseen exception as an ARX900 problem: one line, and the traceback only when ARX_DEBUG asks.

    Why: an agent parsing ``--json`` must get an error object, not a traceback on stderr and nothing on stdout.
    """
    import os
    import traceback

    if os.environ.get("ARX_DEBUG"):
        traceback.print_exception(exc)
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return ArtifactError(None, None, f"{during} failed: {type(exc).__name__}: {exc}{where}",
                         "rerun with ARX_DEBUG=1 for the traceback and report it as a bug", code="ARX900")


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn a failed write (permissions, a full disk, a file where a directory should be) into ARX115."""
    try:
        yield
    except OSError as e:
        raise ArtifactError(path, None, f"cannot be written: {e.strerror or e}",
                            "check the permissions and free space of that directory", code="ARX115") from None
