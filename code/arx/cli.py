"""``arx``: the command line of the artifact (thin; the work is in ``arx.artifact``).

Imports nothing heavy at module level (no torch, not even pydantic) so ``arx --help`` starts instantly.
Every command takes ``--json``. Exit codes: 0 ok (a refuted claim is a result, not a failure), 1 tampered,
stale or missing evidence, or verdict drift under ``review --ci``, 2 bad input or usage (one line naming file,
field and fix; nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NODE_TYPES = ["question", "experiment", "dead_end", "decision", "pivot"]
COMPARATORS = [">=", "<=", ">", "<", "between", "abs_diff_le"]


class Out:
    """Prints either human text or one JSON document."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def emit(self, data: Any, text: str | None) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, default=str))
        elif text is not None:
            print(text)


def _table(rows: list[list[Any]], header: list[str]) -> str:
    """Left-aligned columns; cells are shown with str()."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*map(str, r)) for r in rows)])


def _root():
    """The artifact root, after marking runs whose process died as interrupted."""
    from arx.artifact.exploration import sweep_interrupted
    from arx.artifact.load import find_root

    root = find_root()
    for node_id in sweep_interrupted(root):
        print(f"arx: run {node_id} was interrupted (its process is gone); marked in exploration/nodes/",
              file=sys.stderr)
    return root


def _artifact(args):
    from arx.artifact.load import load_artifact

    art = load_artifact(_root())
    for warning in art.warnings:
        print(f"arx: warning: {warning.one_line()}", file=sys.stderr)
    return art, art.scale(getattr(args, "scale", None))


# ---------------------------------------------------------------------------------------------- commands
def _summary(res) -> str:
    """``0.46 [0.31, 0.60]  5/5 seeds`` for the first condition of a result."""
    if not res.conditions or res.conditions[0].estimate is None:
        return "-"
    c = res.conditions[0]
    ci = f" [{c.interval[0]:.3g}, {c.interval[1]:.3g}]" if c.interval else ""
    more = f" (+{len(res.conditions) - 1} more)" if len(res.conditions) > 1 else ""
    return f"{c.estimate:.3g}{ci}  {c.seeds_satisfying}/{len(res.seeds)} seeds{more}"


def cmd_status(args, out: Out) -> int:
    from arx.artifact.review import Inspector, judge_active, registrations_at

    art, scale = _artifact(args)
    ins = Inspector(art)
    seeds = art.seeds(scale)
    results, broken = judge_active(art, scale, ins)
    regs = registrations_at(art, scale, ins, list(results))
    rows, lines = [], []
    for cid, err in broken.items():
        rows.append({"claim": cid, "paper": art.claims[cid].paper, "verdict": "error", "evidence": None,
                     "reason": err.one_line(), "error": err.as_json()})
        lines.append([cid, art.claims[cid].paper, "error", f"{err.code}: see below", "-", "-"])
    for cid, claim in art.claims.items():
        if claim.retired is not None:
            rows.append({"claim": cid, "paper": claim.paper, "verdict": "retired", "evidence": None,
                         "reason": claim.retired.reason, "retired": claim.retired.model_dump(mode="json")})
            lines.append([cid, claim.paper, "retired", f"since {claim.retired.date}: {claim.retired.reason}", "-", "-"])
    for cid, res in results.items():
        state = res.evidence_state or "-"
        reg = regs.get(cid)
        recalled = art.claims[cid].paper_reports.source == "recalled"
        rows.append({"claim": cid, "paper": art.claims[cid].paper, "verdict": res.verdict, "evidence": state,
                     "decision": res.decision, "reason": res.reason, "recalled_quote": recalled,
                     "registration": reg.as_json() if reg else None,
                     "conditions": [c.model_dump(mode="json") for c in res.conditions]})
        lines.append([cid, art.claims[cid].paper, res.verdict, _summary(res), state,
                      (reg.status if reg else "-") + (", recalled quote" if recalled else "")])
    text = _table(lines, ["claim", "paper", f"verdict ({scale})", "estimate [interval]  seeds satisfying",
                          "evidence", "registration"]) if rows else "no claims in logic/claims/"
    out.emit({"scale": scale, "seeds": seeds, "claims": rows}, text)
    for err in broken.values():
        print(f"arx: error: {err.one_line()}", file=sys.stderr)
    return 2 if broken else 0


def cmd_codes(args, out: Out) -> int:
    from arx.artifact.diagnostics import CODES

    rows = [{"code": k, "name": c.name, "severity": c.severity, "summary": c.summary} for k, c in CODES.items()]
    out.emit({"codes": rows}, _table([[r["code"], r["name"], r["severity"], r["summary"]] for r in rows],
                                     ["code", "name", "severity", "what it means"]))
    return 0


def cmd_show(args, out: Out) -> int:
    from arx.artifact.diagnostics import ArtifactError
    from arx.artifact.review import Inspector, judge

    art, scale = _artifact(args)
    if args.claim not in art.claims:
        raise ArtifactError(None, "claim", f"no claim {args.claim!r}", "see `arx status` for claim ids", code="ARX501")
    claim = art.claims[args.claim]
    res = judge(claim, scale, Inspector(art), art.claim_files[args.claim], art.seeds(scale))
    text = (art.root / art.claim_files[args.claim]).read_text() + f"\n# verdict at {scale}: {res.verdict} ({res.reason})"
    out.emit({"claim": claim.model_dump(mode="json"), "result": res.model_dump(mode="json")}, text)
    return 0


def _fail_on(args) -> tuple[str, ...]:
    from arx.artifact.diagnostics import ArtifactError
    from arx.artifact.review import FAIL_ON

    wanted = tuple(w for w in (args.fail_on or "").split(",") if w) + (("inconclusive",) if args.strict else ())
    bad = [w for w in wanted if w not in FAIL_ON]
    if bad:
        raise ArtifactError(None, "--fail-on", f"unknown verdict {bad[0]!r}", f"use {','.join(FAIL_ON)}", code="ARX502")
    return wanted


def _problems_text(report) -> str:
    text = ""
    for title, items in (("TAMPERED EVIDENCE", report.tampered), ("STALE EVIDENCE", report.stale),
                         ("EVIDENCE FROM A DIRTY TREE", report.dirty), ("WARNINGS", report.warnings)):
        if items:
            text += f"\n\n{title}:\n" + "\n".join(f"  {t}" for t in items)
    return text


def cmd_review(args, out: Out) -> int:
    from arx.artifact.review import exit_code, review, write_report

    art, scale = _artifact(args)
    fail_on = _fail_on(args)
    report = review(art, scale, args.claim or None, strict=args.strict)
    if args.ci:
        return _review_ci(args, out, art, report, fail_on)
    path, report, written = write_report(art.root, report, partial=bool(args.claim))
    code = exit_code(report, fail_on, allow_missing=args.allow_missing)
    rows = [[r.claim, r.verdict, r.reason] for r in report.results]
    for cid in report.retired:
        retirement = art.claims[cid].retired
        if retirement is not None:
            rows.append([cid, "retired", retirement.reason])
    text = _table(rows, ["claim", f"verdict ({scale})", "why"]) if rows else "no claims to review"
    text += _problems_text(report)
    text += f"\n\n{'written' if written else 'unchanged'}: {path.relative_to(art.root)}"
    out.emit({**report.model_dump(mode="json"), "exit_code": code}, text)
    return code


def _review_ci(args, out: Out, art, report, fail_on) -> int:
    """Recompute, write nothing, compare with the report committed at --against; exit 1 on any drift or
    evidence problem (dirty included)."""
    from arx.artifact.drift import differences, report_at
    from arx.artifact.review import exit_code

    if args.claim:
        from arx.artifact.diagnostics import ArtifactError

        raise ArtifactError(None, "--ci", "reviews every claim", "drop --claim", code="ARX502")
    committed = report_at(art.root, args.against, report.scale)
    changes = differences(committed, report)
    code = max(exit_code(report, fail_on), 1 if changes or report.dirty or committed is None else 0)
    text = f"review --ci at scale {report.scale} against {args.against}: "
    if committed is None:
        text += f"no committed report evidence/review/{report.scale}.json (run `arx review` and commit it)"
    elif changes:
        text += f"{len(changes)} change(s) without a committed report:\n" + _table(
            [[c.claim, c.field, c.before, c.after] for c in changes], ["claim", "field", "committed", "recomputed"])
    else:
        text += f"{len(report.results)} verdicts as committed"
    missing = [r for r in report.results if r.reason.startswith("evidence missing")]
    if missing:  # a check without its evidence fails the gate: say which, and how to produce it
        text += f"\n{len(missing)} claim(s) without their evidence:\n" + "\n".join(
            f"  {r.claim}: {r.reason}" for r in missing)
    text += _problems_text(report)
    text += f"\n\nexit {code}"
    out.emit({"scale": report.scale, "against": args.against, "exit_code": code, "committed_report": committed is not None,
              "changes": [c.__dict__ for c in changes], "tampered": report.tampered, "stale": report.stale,
              "dirty": report.dirty, "missing": [r.claim for r in missing],
              "results": [r.model_dump(mode="json") for r in report.results]}, text)
    return code


def cmd_diff(args, out: Out) -> int:
    from arx.artifact.drift import differences, report_at
    from arx.artifact.review import report_path

    art, scale = _artifact(args)
    before, after = report_at(art.root, args.rev1, scale), report_at(art.root, args.rev2, scale)
    changes = differences(before, after)
    where = f"{args.rev1} -> {args.rev2 or 'working tree'} (scale {scale})"
    # Why: a revision without a report (older layout, or never reviewed) would otherwise show as every claim
    # "absent", which reads like claims were deleted; say once which side has no report.
    missing = [rev or "working tree" for rev, rep in ((args.rev1, before), (args.rev2, after)) if rep is None]
    note = "".join(f"\nnote: {m} has no {report_path(scale).as_posix()}; its claims show as absent" for m in missing)
    text = (f"{where}: no verdict, estimate or check changed" if not changes else
            f"{where}\n" + _table([[c.claim, c.field, c.before, c.after] for c in changes],
                                   ["claim", "field", args.rev1, args.rev2 or "working tree"])) + note
    out.emit({"scale": scale, "from": args.rev1, "to": args.rev2, "without_report": missing,
              "changes": [c.__dict__ for c in changes]}, text)
    return 0


def cmd_trace(args, out: Out) -> int:
    from arx.artifact.diagnostics import ArtifactError
    from arx.artifact.exploration import iter_nodes
    from arx.artifact.load import load_artifact
    from arx.artifact.runs import claim_runs, previous_runs
    from arx.artifact.validation import check_graph

    root = _root()
    check_graph(root)
    nodes = {n.id: n for n in iter_nodes(root)}
    children: dict[str, list[str]] = {i: [] for i in nodes}
    for n in nodes.values():
        for p in n.parents:
            children[p].append(n.id)
    previous = previous_runs(nodes.values())
    about_claim: list[str] = []
    if args.id and args.id not in nodes:  # a claim: its notes and every run that fed it (derived, not typed)
        art = load_artifact(root)
        runs = claim_runs(art, nodes.values(), args.id) if args.id in art.claims else []
        about_claim = sorted({i for i, n in nodes.items() if args.id in n.claims} | {n.id for n in runs})
    if args.id and args.id not in nodes and not about_claim:
        raise ArtifactError(None, "id", f"no node and no node about a claim {args.id!r} in exploration/nodes",
                            "run `arx trace` to list ids, or `arx status` for claim ids", code="ARX501")
    if args.id:  # a node's subtree, or every node about a claim (each with what grew from it)
        roots = [args.id] if args.id in nodes else [i for i in about_claim
                                                     if not set(nodes[i].parents) & set(about_claim)]
    else:
        roots = [i for i, n in nodes.items() if not n.parents]

    def label(n) -> str:
        if not n.run:
            return f"{n.id}  [{n.type}]  {n.title}"
        seed = f" seed {n.run.wildcards['seed']}" if "seed" in n.run.wildcards else ""
        after = f"  (after {previous[n.id]})" if previous.get(n.id) else ""
        return f"{n.id}  [run:{n.run.status}]  {n.run.rule or n.title}{seed} {n.run.started[:16]}{after}"

    lines: list[str] = []
    seen: set[str] = set()

    def walk(i: str, depth: int) -> dict:
        lines.append("  " * depth + ("- " if depth else "") + label(nodes[i]))
        if i in seen:  # reached again through another parent: show once
            return {"id": i}
        seen.add(i)
        run = nodes[i].run
        return {"id": i, "type": nodes[i].type, "title": nodes[i].title,
                "status": run.status if run else None, "previous": previous.get(i),
                "children": [walk(c, depth + 1) for c in sorted(children[i])]}

    tree = [walk(r, 0) for r in sorted(roots)]
    out.emit({"nodes": tree}, "\n".join(lines) or "exploration graph is empty")
    return 0


def cmd_note(args, out: Out) -> int:
    from arx.artifact.diagnostics import ArtifactError
    from arx.artifact.exploration import add_note
    from arx.artifact.load import find_root

    root = find_root()
    for c in args.claim:
        if not (root / "logic" / "claims" / f"{c}.yaml").is_file():
            raise ArtifactError(None, "--claim", f"no claim {c!r}", "see `arx status` for claim ids", code="ARX501")
    from arx.artifact.schema import NOTE_FIELDS

    fields = {name: getattr(args, name) for names in NOTE_FIELDS.values() for name in names}
    node = add_note(root, args.type, args.title, args.body or "", args.parent, args.claim, args.author, fields)
    out.emit(node.model_dump(mode="json", exclude_none=True), f"exploration/nodes/{node.id}.yaml")
    return 0


def _decision(text: str) -> dict[str, Any]:
    """``interval`` | ``interval:0.9`` | ``all_seeds`` | ``seeds_passing:4`` as a decision mapping."""
    from arx.artifact.diagnostics import ArtifactError

    kind, _, arg = text.partition(":")
    try:
        if kind == "interval":
            return {"kind": "interval", "level": float(arg) if arg else 0.95}
        if kind == "all_seeds" and not arg:
            return {"kind": "all_seeds"}
        if kind == "seeds_passing":
            return {"kind": "seeds_passing", "min": int(arg)}
    except ValueError:
        pass
    raise ArtifactError(None, "--decision", f"{text!r} is not a decision rule",
                        "use interval[:LEVEL], all_seeds or seeds_passing:MIN", code="ARX502")


def _also(text: str) -> dict[str, Any]:
    """``'KEY OP THRESHOLD'`` or ``'KEY - MINUS OP THRESHOLD'`` as one more condition."""
    from arx.artifact.diagnostics import ArtifactError

    parts = text.split()
    if len(parts) in (3, 5) and parts[-2] in (">=", "<=", ">", "<"):
        try:
            cond: dict[str, Any] = {"key": parts[0], "comparator": parts[-2], "threshold": float(parts[-1])}
        except ValueError:
            cond = {}
        if cond and len(parts) == 5 and parts[1] == "-":
            cond["minus"] = parts[2]
        if cond and (len(parts) == 3 or "minus" in cond):
            return cond
    raise ArtifactError(None, "--also", f"{text!r} is not a condition",
                        "write 'KEY >= 0.5' or 'KEY - MINUS > 0' (comparator >=, <=, > or <)", code="ARX502")


def cmd_new_claim(args, out: Out) -> int:
    import yaml

    from arx.artifact.diagnostics import ArtifactError
    from arx.artifact.load import find_root, load_manifest, rel, validate
    from arx.artifact.schema import Claim

    root = find_root()
    manifest = load_manifest(root)
    path = root / "logic" / "claims" / f"{args.id}.yaml"
    if path.exists():
        raise ArtifactError(rel(path, root), None, "claim file already exists", "pick another id or edit the file", code="ARX506")
    if args.paper not in manifest.papers:
        raise ArtifactError(None, "--paper", f"unknown paper {args.paper!r}", f"use one of {', '.join(manifest.papers)}",
                            code="ARX501")
    check: dict[str, Any] = {
        "rule": args.rule or f"{args.paper}_TODO",
        "evidence": args.evidence or f"evidence/{args.paper}/{args.paper}_TODO/small/seed_{{seed}}/metrics.json",
        "key": args.key or "TODO", "comparator": args.comparator, "decision": _decision(args.decision)}
    if args.minus:
        check["minus"] = args.minus
    if args.comparator == "between":
        check["thresholds"] = args.thresholds or [0.0, 1.0]
    else:
        check["threshold"] = args.threshold if args.threshold is not None else 0.0
        if args.comparator == "abs_diff_le":
            check["reference"] = args.reference if args.reference is not None else 0.0
    if args.also:
        check["also"] = [_also(a) for a in args.also]
    data = {"id": args.id, "paper": args.paper, "statement": "TODO: the claim in your own words",
            "paper_reports": {"quote": "TODO: verbatim sentence from the abstract", "figure": "TODO",
                              "source": "abstract"},
            "conditions": {"models": ["TODO"], "data": "TODO", "seeds": manifest.scales["small"].seeds
                           if "small" in manifest.scales else [0]},
            "falsification": "TODO: what result refutes it", "depends_on": [], "checks": {"small": check},
            "history": []}
    validate(Claim, data, f"logic/claims/{args.id}.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as f:
        f.write("# Scaffold from `arx new-claim`: replace every TODO; thresholds are fixed before running.\n")
        f.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))
    out.emit({"created": rel(path, root)}, f"created {rel(path, root)} (fill in the TODOs, then `arx validate`)")
    return 0


def cmd_validate(args, out: Out) -> int:
    from arx.artifact.load import find_root
    from arx.artifact.validation import validate_all, validate_files

    root = find_root()
    warnings: list = []
    if args.files:
        checked = validate_files(root, [Path(f) for f in args.files])
    else:
        checked, warnings = validate_all(root, strict=args.strict)
    for w in warnings:
        print(f"arx: warning: {w.one_line()}", file=sys.stderr)
    out.emit({"valid": checked, "warnings": [w.as_json() for w in warnings]},
             f"ok: {len(checked)} files valid (pydantic + JSON Schema)"
             + (f", {len(warnings)} warning(s) (`--strict` fails on them)" if warnings else ""))
    return 0


def cmd_reproduce(args, out: Out) -> int:
    from arx.artifact.diagnostics import ArtifactError
    from arx.artifact.remote import default_remote, pull
    from arx.artifact.reproduce import plan, run, upstream_to_pull

    art, scale = _artifact(args)
    seeds = None
    if args.seeds:
        try:
            seeds = [int(s) for s in args.seeds.split(",")]
        except ValueError:
            raise ArtifactError(None, "--seeds", f"{args.seeds!r} is not a comma-separated list of seeds",
                                "write e.g. --seeds 0,1", code="ARX502") from None
    # upstream outputs DVC tracks but this clone lacks: pulled from the remote, or (failing that) rebuilt
    wanted = [] if args.from_scratch or args.no_pull else upstream_to_pull(art, args.claim, scale, seeds)
    fetch: dict = {"absent": wanted, "remote": default_remote(art.root) if wanted else None, "pulled": False}
    if wanted and args.dry_run:
        fetch["note"] = (f"{len(wanted)} DVC-tracked upstream output(s) are absent here; a run first pulls them from "
                         f"remote {fetch['remote']!r} (the plan below rebuilds them only if that fails; --no-pull "
                         "rebuilds them)")
    elif wanted:
        try:
            moved = pull(art.root, wanted)
            fetch.update(pulled=True, note=f"pulled {len(wanted)} DVC-tracked upstream output(s) from remote "
                         f"{moved.remote!r} instead of rebuilding them ({moved.summary})")
        except ArtifactError as e:
            fetch["note"] = f"could not pull {len(wanted)} upstream output(s), so Snakemake rebuilds them: {e.one_line()}"
        print(f"arx: {fetch['note']}", file=sys.stderr)
    p = plan(art, args.claim, scale, seeds, args.from_scratch)
    total = p.total_s
    rows = [[r, n, "-" if p.expected_s[r] is None else f"{p.expected_s[r]:.0f} s"] for r, n in p.jobs.items()]
    text = (f"plan for {args.claim} at {scale}, seeds {p.seeds}"
            f"{' from scratch' if args.from_scratch else ''}:\n" + _table(rows, ["rule", "jobs", "expected each"])
            + f"\nexpected job time: {'unknown (a rule has never run here)' if total is None else f'{total:.0f} s'}"
            + f" (serial; divided by the cores Snakemake uses)\ncommand: {' '.join(p.command)}"
            + (f"\n{fetch['note']}" if "note" in fetch else ""))
    if args.dry_run:
        out.emit({**p.as_json(), "pull": fetch, "ran": False}, text)
        return 0
    print(text, file=sys.stderr)
    code = run(art, p)
    out.emit({**p.as_json(), "pull": fetch, "ran": True, "exit_code": code},
             f"snakemake exited {code}" + ("" if code == 0 else ": see the failed job's log above; its run node "
                                           "is in exploration/nodes/ (`arx explain {args.claim}`)"))
    return 0 if code == 0 else 1


def cmd_explain(args, out: Out) -> int:
    from arx.artifact.explain import explain

    art, scale = _artifact(args)
    data = explain(art, args.claim, scale, args.limit)
    out.emit(data, json.dumps(data, indent=2, default=str))
    return 0


def cmd_schema(args, out: Out) -> int:
    from arx.artifact.validation import schema_drift, schemas, write_schemas

    if args.write or args.check:
        from arx.artifact.load import find_root

        root = find_root()
        if args.check:
            drift = schema_drift(root)
            out.emit({"out_of_sync": drift}, "\n".join(f"out of sync: {d} (run `arx schema --write`)" for d in drift)
                     or "schemas in sync")
            return 1 if drift else 0
        written = write_schemas(root)
        out.emit({"written": written}, "\n".join(f"wrote {w}" for w in written))
        return 0
    data = schemas()
    if args.name:
        data = {args.name: data[args.name]}
    print(json.dumps(data, indent=2))
    return 0


def cmd_evidence_list(args, out: Out) -> int:
    from arx.artifact.review import Inspector

    art, scale = _artifact(args)
    ins = Inspector(art)
    cited: dict[str, list[str]] = {}
    for cid, claim in art.claims.items():
        if scale in claim.checks:
            for seed in art.seeds(scale):
                cited.setdefault(claim.checks[scale].evidence_for(seed), []).append(cid)
    paths = sorted(set(cited) | {p.relative_to(art.root).as_posix()
                                 for p in (art.root / "evidence").rglob("metrics.json")})
    rows: list[dict[str, Any]] = []
    for p in paths:
        st = ins.state(p, art.claim_files[cited[p][0]] if p in cited else p, "evidence")
        rows.append({"path": p, "state": st.state, "detail": st.detail, "claims": cited.get(p, [])})
    text = _table([[r["path"], r["state"], ",".join(r["claims"]) or "-", r["detail"]] for r in rows],
                  ["evidence", "state", "claims", "detail"]) if rows else "no evidence yet"
    out.emit({"scale": scale, "evidence": rows}, text)
    return 0


def cmd_compare(args, out: Out) -> int:
    from arx.artifact.compare import as_rows, compare

    art, _ = _artifact(args)
    result = compare(art, args.rule, args.key)
    rows, header = as_rows(result)
    out.emit(result, _table(rows, header))
    return 0


def cmd_report(args, out: Out) -> int:
    from arx.artifact.report import build_report

    art, scale = _artifact(args)
    # without --scale: every scale that has a review report, side by side under build/report/<scale>/
    scales = [scale] if args.scale else [s for s in art.manifest.scales
                                         if (art.root / "evidence" / "review" / f"{s}.json").is_file()] or [scale]
    base = Path(args.out).resolve() if args.out else art.root / "build" / "report"
    built = []
    for s in scales:
        target = base if args.out and len(scales) == 1 and args.scale else base / s
        summary = build_report(art, s, target, siblings=scales if len(scales) > 1 else ())
        built.append({"scale": s, "out": str(summary.out), "index": str(summary.out / "index.html"),
                      "pages": summary.pages, "claims": summary.claims, "verdicts": summary.counts})
    first = built[0]
    text = "\n".join(f"wrote {b['pages']} pages for {b['claims']} claims ({b['scale']}) to {b['out']}" for b in built)
    out.emit({**first, "sites": built}, f"{text}\nopen file://{first['index']} (or: python -m http.server -d "
                                         f"{Path(first['out']).parent})")
    return 0


def cmd_evidence_transfer(args, out: Out) -> int:
    from arx.artifact import remote
    from arx.artifact.evidence import dvc_entries

    root = _root()
    if args.action == "pull":
        targets = remote.absent(root, args.paths or None)
        moved = remote.pull(root, targets, args.remote)
    else:
        prefixes = [p.rstrip("/") + "/" for p in args.paths]
        targets = [ptr for data, ptr, _ in dvc_entries(root) if data.exists()
                   and (not prefixes or any(ptr.startswith(p) for p in prefixes))]
        moved = remote.push(root, targets, args.remote)
    out.emit(moved.as_json(), f"{args.action}: {len(moved.targets)} DVC-tracked output(s), remote "
             f"{moved.remote!r}: {moved.summary}")
    return 0


def cmd_evidence_track(args, out: Out) -> int:
    from arx.artifact.evidence import track
    from arx.artifact.load import find_root

    root = find_root()
    added = track(root, Path(args.path).resolve())
    out.emit({"tracked": added}, "\n".join(f"dvc-tracked {a}" for a in added) or "nothing large to track")
    return 0


# ---------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    scaled = argparse.ArgumentParser(add_help=False)
    scaled.add_argument("--scale", help="small | pretrained | medium | paper (default from ara.yaml)")

    p = argparse.ArgumentParser(prog="arx", description="Agent-native research artifact: claims, evidence, review.",
                                epilog="exit codes: 0 ok, 1 tampered/stale/missing evidence or verdict drift (review --ci), "
                                       "2 bad input")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, fn, help_, parents=(common,)):
        sp = sub.add_parser(name, help=help_, description=help_, parents=list(parents))
        sp.set_defaults(fn=fn)
        return sp

    add("status", cmd_status, "claims table: computed verdict and evidence freshness", (common, scaled))
    sp = add("show", cmd_show, "one claim file and its current verdict", (common, scaled))
    sp.add_argument("claim")
    sp = add("review", cmd_review, "static checks + verdicts computed over every seed, written to "
             "evidence/review/<scale>.json when they change; exit 0 when every verdict was computed (refuted and "
             "inconclusive included), 1 on tampered / stale / missing evidence, 2 on bad input", (common, scaled))
    sp.add_argument("--fail-on", metavar="VERDICTS", help="also exit 1 on these verdicts: refuted,inconclusive")
    sp.add_argument("--strict", action="store_true", help="--fail-on inconclusive, and warnings (a post-hoc check, "
                    "a recalled quote) fail as errors do (exit 2)")
    sp.add_argument("--ci", action="store_true", help="write nothing; exit 1 when the recomputed verdicts differ from "
                    "the committed report (--against), or evidence is tampered, stale, missing or from a dirty tree")
    sp.add_argument("--against", default="HEAD", metavar="REV", help="revision of the report --ci compares with")
    sp.add_argument("--allow-missing", action="store_true",
                    help="missing seeds do not fail (a --config seeds=[...] run of fewer seeds than the scale lists)")
    sp.add_argument("--claim", action="append", default=[], help="review only this claim (repeatable)")
    sp = add("diff", cmd_diff, "verdicts, estimates, intervals and checks that changed between two revisions' "
             "reports", (common, scaled))
    sp.add_argument("rev1", help="earlier revision, e.g. HEAD~3")
    sp.add_argument("rev2", nargs="?", help="later revision (default: the working tree)")
    sp = add("compare", cmd_compare, "runs of one rule grouped by config minus seed: mean, interval, n and the "
             "config keys that differ between groups")
    sp.add_argument("rule", help="Snakemake rule name, e.g. depn_edit")
    sp.add_argument("--key", action="append", default=[],
                    help="dotted metric key (repeatable; default: the keys the claims on this rule test)")
    sp = add("report", cmd_report, "the artifact as a static web site (claims, per-seed evidence, history, runs, "
             "exploration graph) that works offline: build/report/<scale>/ for every scale with a review report, "
             "or only --scale", (common, scaled))
    sp.add_argument("--out", help="output directory (replaced; default build/report/; with --scale the site itself)")
    sp = add("trace", cmd_trace, "the exploration graph as a tree (all, under a node id, or the nodes about a claim id)")
    sp.add_argument("id", nargs="?", help="show only the subtree under this node")
    sp = add("note", cmd_note, "add a question / experiment / decision / dead_end / pivot node")
    sp.add_argument("--type", required=True, choices=NODE_TYPES)
    sp.add_argument("--title", required=True)
    sp.add_argument("--body", help="what was tried, why, what it showed")
    sp.add_argument("--parent", action="append", default=[], help="parent node id (repeatable)")
    sp.add_argument("--claim", action="append", default=[], help="claim id this note is about (repeatable)")
    sp.add_argument("--author")
    for flag, help_ in (("hypothesis", "dead_end: what was expected to work"), ("failure-mode", "dead_end: how it "
                        "failed"), ("lesson", "dead_end: what to do differently"), ("choice", "decision: what was "
                        "chosen"), ("rationale", "decision: why"), ("prior-direction", "pivot: the direction left"),
                        ("new-direction", "pivot: the direction taken"), ("reason", "pivot: why")):
        sp.add_argument(f"--{flag}", help=help_)
    sp.add_argument("--alternative", dest="alternatives", action="append", help="decision: an option not chosen "
                    "(repeatable)")
    sp = add("new-claim", cmd_new_claim, "scaffold logic/claims/<id>.yaml")
    sp.add_argument("id")
    sp.add_argument("--paper", required=True)
    sp.add_argument("--rule")
    sp.add_argument("--evidence", help="evidence/<paper>/<experiment>/<scale>/seed_{seed}/metrics.json")
    sp.add_argument("--key", help="dotted path inside `metrics`")
    sp.add_argument("--comparator", choices=COMPARATORS, default=">=")
    sp.add_argument("--threshold", type=float)
    sp.add_argument("--thresholds", type=float, nargs=2, metavar=("LO", "HI"))
    sp.add_argument("--reference", type=float)
    sp.add_argument("--minus", metavar="KEY", help="test KEY - MINUS ('A beats B')")
    sp.add_argument("--also", action="append", default=[], metavar="'KEY OP T'",
                    help="one more condition that must hold, e.g. 'acc.target - acc.base >= 0.05' (repeatable)")
    sp.add_argument("--decision", default="interval", metavar="RULE",
                    help="how the seeds decide: interval[:LEVEL] (default 0.95), all_seeds, seeds_passing:MIN")
    sp = add("validate", cmd_validate, "validate files (default: the whole artifact) with pydantic and JSON Schema; "
             "every problem is reported at once, each with a stable code (`arx codes`)")
    sp.add_argument("files", nargs="*")
    sp.add_argument("--strict", action="store_true", help="warnings (e.g. a recalled quote) fail as errors do")
    sp = add("explain", cmd_explain, "everything about one claim in one JSON document, every run that fed it "
             "(failed and interrupted included) with the run before it", (common, scaled))
    sp.add_argument("claim")
    sp.add_argument("--limit", type=int, metavar="N", help="only the newest N runs per scale (the rest are counted "
                    "in runs_left_out)")
    sp = add("reproduce", cmd_reproduce, "re-run a claim: print the jobs Snakemake will run (upstream models "
             "included) and their expected time from earlier runs, then run them and review", (common, scaled))
    sp.add_argument("claim")
    sp.add_argument("-n", "--dry-run", action="store_true", help="print the plan only")
    sp.add_argument("--from-scratch", action="store_true", help="also re-run everything upstream (zoo models)")
    sp.add_argument("--seeds", metavar="K,K", help="only these seeds (default: the scale's seeds)")
    sp.add_argument("--no-pull", action="store_true", help="rebuild absent DVC-tracked upstream outputs instead of "
                    "pulling them from the DVC remote")
    add("codes", cmd_codes, "every diagnostic code arx reports (ARX1xx files, 2xx claims, 3xx graph, 4xx evidence "
        "contents, 5xx command line, 900 internal), with its severity")
    sp = add("schema", cmd_schema, "print the JSON Schemas; --write regenerates logic/schemas/")
    sp.add_argument("name", nargs="?", choices=["manifest", "paper", "claim", "metrics", "node", "review"])
    sp.add_argument("--write", action="store_true")
    sp.add_argument("--check", action="store_true", help="exit 1 if logic/schemas/ is out of sync")
    ev = sub.add_parser("evidence", help="list or DVC-track evidence").add_subparsers(dest="evidence_cmd",
                                                                                         required=True,
                                                                                         metavar="SUBCOMMAND")
    sp = ev.add_parser("list", help="what exists, is stale, is missing", parents=[common, scaled])
    sp.set_defaults(fn=cmd_evidence_list)
    sp = ev.add_parser("track", help="dvc add the large outputs under PATH (serialised by a lock)", parents=[common])
    sp.add_argument("path")
    sp.set_defaults(fn=cmd_evidence_track)
    for action, what in (("push", "send the DVC-tracked outputs present here to the DVC remote"),
                         ("pull", "fetch the DVC-tracked outputs absent here from the DVC remote")):
        sp = ev.add_parser(action, help=f"{what} (default remote: core.remote in .dvc/config)", parents=[common])
        sp.add_argument("paths", nargs="*", metavar="PATH", help="only the outputs under these paths (default: all "
                        "of evidence/)")
        sp.add_argument("-r", "--remote", help="a remote name from `dvc remote list`")
        sp.set_defaults(fn=cmd_evidence_transfer, action=action)
    return p


def _report_errors(problems: list, as_json: bool) -> None:
    """Every problem on stderr, one line each; under ``--json`` one error object (the first) with all of them."""
    if as_json:
        print(json.dumps({**problems[0].as_json(), "problems": [p.as_json() for p in problems]}, indent=2))
    for p in problems:
        print(f"arx: error: {p.one_line()}", file=sys.stderr)  # a warning here failed under --strict


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Out(args.json)
    from arx.artifact.diagnostics import ArtifactError, flatten, internal_error

    try:
        return args.fn(args, out)
    except ArtifactError as e:
        _report_errors(flatten(e), args.json)
        return 2
    except KeyboardInterrupt:
        print("arx: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # last resort: never a traceback, the same error shape as every other error
        _report_errors([internal_error(e, f"arx {args.command}")], args.json)
        return 2


if __name__ == "__main__":
    sys.exit(main())
