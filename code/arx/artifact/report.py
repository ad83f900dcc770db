"""``arx report``: the artifact as a static web site (claims, per-seed evidence, history, runs, exploration graph).

Why: a reviewer deciding whether to trust a result wants the claim, its pre-registered threshold, the evidence of
every seed and the history of what was tried on one page, not YAML and JSON in five folders. The site is built from
the artifact alone (claims, papers, evidence, review, exploration graph), works offline from ``file://`` (no CDN, no
server code: its CSS and script are written here) and is deterministic: the same artifact gives byte-identical
files (sorted iteration, no build time, SVG written with a fixed hash salt and no date).

Pages: ``index.html`` (every claim: verdict, estimate and interval, seeds satisfying, threshold, the paper's figure,
freshness, pre-registration; filter and sort), ``claims/<id>.html``, ``papers/<id>.html``, ``exploration.html``
(every node, dead ends and failed runs marked), ``compare.html`` (runs grouped by config minus the seed).
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compare import as_rows, compare
from .diagnostics import ArtifactError
from .explain import explain
from .exploration import iter_nodes
from .load import Artifact
from .review import Inspector, judge_active, registrations_at
from .schema import ExplorationNode

VERDICTS = ("reproduced", "refuted", "inconclusive", "error")  # error: the evidence cannot be read (ARX4xx)


@dataclass(frozen=True)
class ReportSummary:
    out: Path
    pages: int
    claims: int
    counts: dict[str, int]


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def fmt(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"


CSS = """
:root { --fg:#1d232a; --muted:#5b6670; --line:#dde3e8; --bg:#fff; --soft:#f5f7f9;
        --ok:#1a7f37; --bad:#c62828; --unk:#8a6d00; --accent:#1f5fa8; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0;
       background: var(--bg); }
header { background: #102a43; color: #fff; padding: 14px 28px; display: flex; gap: 24px; align-items: baseline; }
header a { color: #cfe3ff; text-decoration: none; } header a:hover { text-decoration: underline; }
header .brand { font-weight: 700; font-size: 18px; color: #fff; }
main { max-width: 1440px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line);
     padding-bottom: 4px; }
a { color: var(--accent); }
.muted { color: var(--muted); } .small { font-size: 13px; }
.summary { display: flex; gap: 12px; margin: 12px 0 16px; flex-wrap: wrap; }
.pill { border-radius: 999px; padding: 2px 10px; font-size: 13px; font-weight: 600; white-space: nowrap;
        display: inline-block; }
.v-reproduced { background: #dcf5e3; color: var(--ok); } .v-refuted { background: #fde2e2; color: var(--bad); }
.v-inconclusive { background: #fff4cc; color: var(--unk); } .v-error { background: #eee; color: #333; }
.v-not { background: #f0f0f0; color: #777; font-weight: 500; }
.card { background: var(--soft); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card b { font-size: 20px; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
td code { white-space: normal; overflow-wrap: anywhere; }
#claims td:first-child { white-space: nowrap; }
#claims td:nth-child(2) { font-size: 12.5px; max-width: 130px; overflow-wrap: anywhere; }
#claims td:nth-child(6) { min-width: 260px; }
#claims td:nth-child(7) { min-width: 190px; }
#claims td:nth-child(6) code { overflow-wrap: break-word; }
#claims td.small { max-width: 240px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); position: sticky; top: 0; cursor: pointer; user-select: none; }
th.nosort { cursor: default; }
tr:hover td { background: #fafcfe; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.filters { display: flex; gap: 10px; flex-wrap: wrap; margin: 8px 0 12px; align-items: center; }
.filters select, .filters input { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; }
blockquote { margin: 8px 0; padding: 8px 14px; border-left: 4px solid var(--accent); background: var(--soft); }
dl { display: grid; grid-template-columns: 160px 1fr; gap: 4px 12px; margin: 8px 0; }
dt { color: var(--muted); } dd { margin: 0; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
pre { background: var(--soft); border: 1px solid var(--line); padding: 8px; border-radius: 6px; overflow-x: auto;
      white-space: pre-wrap; }
.timeline { list-style: none; padding-left: 0; border-left: 3px solid var(--line); margin-left: 6px; }
.timeline li { padding: 4px 0 8px 14px; position: relative; }
.timeline li::before { content: ""; position: absolute; left: -8px; top: 10px; width: 11px; height: 11px;
                       border-radius: 50%; background: var(--accent); }
.status-failed, .status-interrupted, .t-dead_end { color: var(--bad); font-weight: 600; }
.status-succeeded { color: var(--ok); }
.t-decision { color: var(--accent); font-weight: 600; } .t-pivot { color: #7b3fa0; font-weight: 600; }
.plot svg { max-width: 100%; height: auto; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 16px; }
img.fig { max-width: 100%; border: 1px solid var(--line); border-radius: 6px; }
details summary { cursor: pointer; }
.dagbox { overflow: auto; max-height: 520px; border: 1px solid var(--line); border-radius: 6px; background: #fff;
          margin: 8px 0; }
svg.dag circle:hover { stroke: #102a43; stroke-width: 2; }
"""

JS = """
function arxTable(id) {
  const table = document.getElementById(id); if (!table) return;
  const body = table.tBodies[0];
  table.querySelectorAll('th[data-key]').forEach((th, col) => {
    th.addEventListener('click', () => {
      const dir = th.dataset.dir === 'asc' ? 'desc' : 'asc'; th.dataset.dir = dir;
      const idx = Array.from(th.parentNode.children).indexOf(th);
      const rows = Array.from(body.rows);
      rows.sort((a, b) => {
        const x = a.cells[idx].dataset.v ?? a.cells[idx].textContent, y = b.cells[idx].dataset.v ?? b.cells[idx].textContent;
        const nx = parseFloat(x), ny = parseFloat(y);
        const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : (x < y ? -1 : x > y ? 1 : 0);
        return dir === 'asc' ? c : -c;
      });
      rows.forEach(r => body.appendChild(r));
    });
  });
  const filters = document.querySelectorAll('[data-filter="' + id + '"]');
  function apply() {
    let shown = 0;
    Array.from(body.rows).forEach(r => {
      let ok = true;
      filters.forEach(f => {
        const v = f.value.trim().toLowerCase(); if (!v) return;
        const field = f.dataset.field;
        const have = (field ? (r.dataset[field] || '') : r.textContent).toLowerCase();
        if (field ? have !== v : !have.includes(v)) ok = false;
      });
      r.hidden = !ok; if (ok) shown++;
    });
    const counter = document.getElementById(id + '-count'); if (counter) counter.textContent = shown;
  }
  filters.forEach(f => { f.addEventListener('input', apply); f.addEventListener('change', apply); }); apply();
}
document.addEventListener('DOMContentLoaded', () => document.querySelectorAll('table[id]').forEach(t => arxTable(t.id)));
"""


def _page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    nav = (f'<a class="brand" href="{up}index.html">arx</a><a href="{up}index.html">Claims</a>'
           f'<a href="{up}exploration.html">Exploration</a><a href="{up}compare.html">Runs by config</a>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><link rel=\"stylesheet\" href=\"{up}assets/style.css\">"
            f"<script src=\"{up}assets/app.js\"></script></head>\n<body><header>{nav}</header>\n"
            f"<main>\n{body}\n</main></body></html>\n")


def _pill(verdict: str) -> str:
    return f'<span class="pill v-{esc(verdict.split()[0])}">{esc(verdict)}</span>'


def _select(table: str, field: str, label: str, values: Sequence[str]) -> str:
    opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
    return (f'<label>{esc(label)} <select data-filter="{table}" data-field="{field}" id="filter-{field}">'
            f'<option value="">all</option>{opts}</select></label>')


# --------------------------------------------------------------------------------------------------- plots


class SeedPlotter:
    """Per-seed values, the estimate with its interval and the pre-registered threshold, as inline SVG.

    One matplotlib figure is reused for every plot and laid out once (no per-plot ``tight_layout``): drawing is
    most of the report's time, and a fresh figure per plot doubled it."""

    def __init__(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self._rc: dict[Any, Any] = {"svg.hashsalt": "arx-report", "svg.fonttype": "none", "font.size": 9}
        with matplotlib.rc_context(self._rc):
            self.fig, self.ax = plt.subplots(figsize=(5.2, 2.4))
            self.fig.subplots_adjust(left=0.11, right=0.98, top=0.88, bottom=0.14)
        self._plt = plt

    def svg(self, title: str, per_seed: dict[str, float | None], interval: list[float] | None,
            estimate: float | None, threshold: float, comparator: str) -> str:
        import io

        import matplotlib

        seeds = sorted(per_seed, key=int)
        values = [per_seed[s] for s in seeds]
        ax = self.ax
        ax.clear()
        with matplotlib.rc_context(self._rc):
            xs = [i for i, v in enumerate(values) if v is not None]
            ax.scatter(xs, [float(values[i] or 0.0) for i in xs], color="#1f5fa8", zorder=3, label="seed value")
            if interval is not None and estimate is not None:
                ax.axhspan(interval[0], interval[1], color="#1f5fa8", alpha=0.12, label="interval")
                ax.axhline(estimate, color="#1f5fa8", lw=1, label="estimate")
            ax.axhline(threshold, color="#c62828", lw=1.2, ls="--", label=f"threshold ({comparator} {threshold:g})")
            ax.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds])
            ax.set_xlim(-0.5, max(len(seeds), 1) - 0.5)
            ax.set_title(title if len(title) <= 80 else title[:77] + "...", fontsize=9)
            ax.legend(fontsize=7, loc="best", frameon=False)
            ax.grid(axis="y", color="#eee")
            buf = io.StringIO()
            self.fig.savefig(buf, format="svg", metadata={"Date": None})  # no build date: same artifact, same bytes
        text = buf.getvalue()
        return text[text.index("<svg"):]

    def close(self) -> None:
        self._plt.close(self.fig)


# --------------------------------------------------------------------------------------------------- pages


def _claim_rows(art: Artifact, scale: str) -> list[dict[str, Any]]:
    ins = Inspector(art)
    active = [cid for cid, c in sorted(art.claims.items()) if c.retired is None]
    results, broken = judge_active(art, scale, ins)
    regs = registrations_at(art, scale, ins, list(results))
    rows: list[dict[str, Any]] = []
    for cid in active:
        claim = art.claims[cid]
        if cid in broken:
            rows.append({"id": cid, "paper": claim.paper, "verdict": "error", "reason": broken[cid].one_line(),
                         "estimate": None, "interval": None, "seeds": "–", "needs": broken[cid].one_line(),
                         "figure": claim.paper_reports.figure, "freshness": "error", "registration": "–",
                         "has_check": True})
            continue
        res = results[cid]
        first = res.conditions[0] if res.conditions else None
        check = claim.checks.get(scale)
        rows.append({"id": cid, "paper": claim.paper, "verdict": res.verdict if check is not None else "not checked",
                     "reason": res.reason,
                     "estimate": first.estimate if first else None,
                     "interval": first.interval if first else None,
                     "seeds": f"{first.seeds_satisfying}/{first.n_seeds}" if first else "–",
                     "needs": " and ".join(c.needs for c in res.conditions) if res.conditions else
                     ("no check at this scale" if check is None else "–"),
                     "figure": claim.paper_reports.figure, "freshness": res.evidence_state or "–",
                     "registration": regs[cid].status if cid in regs else "–",
                     "has_check": check is not None})
    return rows


def _index(art: Artifact, scale: str, rows: list[dict[str, Any]], siblings: Sequence[str]) -> str:
    counts = {v: sum(r["verdict"] == v for r in rows if r["has_check"]) for v in VERDICTS}
    checked = sum(r["has_check"] for r in rows)
    cards = "".join(f'<div class="card"><b>{counts[v]}</b>{_pill(v)}</div>' for v in VERDICTS
                    if counts[v] or v != "error")
    summary = (f'<p class="muted">Scale <b>{esc(scale)}</b> ({esc(art.manifest.scales[scale].description)}); seeds '
               f'{esc(", ".join(map(str, art.seeds(scale))))}. {checked} claims with a check at this scale: '
               f'{counts["reproduced"]} reproduced, {counts["refuted"]} refuted, {counts["inconclusive"]} '
               "inconclusive. Verdicts are computed by <code>arx review</code> from the evidence of every seed by the "
               "decision rule in each claim file, fixed before the run.</p>")
    papers = sorted({r["paper"] for r in rows})
    scales = "" if len(siblings) < 2 else '<p class="small">scale: ' + " · ".join(
        f"<b>{esc(x)}</b>" if x == scale else f'<a href="../{esc(x)}/index.html">{esc(x)}</a>' for x in siblings) + "</p>"
    filters = (scales + '<div class="filters">' + _select("claims", "paper", "paper", papers)
               + _select("claims", "verdict", "verdict", sorted({r["verdict"] for r in rows}))
               + '<label>search <input data-filter="claims" placeholder="claim, threshold, ..."></label>'
               + '<span class="muted small"><span id="claims-count"></span> shown</span></div>')
    head = "".join(f'<th data-key="{k}">{esc(t)}</th>' for k, t in [
        ("id", "claim"), ("paper", "paper"), ("verdict", "verdict"), ("estimate", "estimate [interval]"),
        ("seeds", "seeds satisfying"), ("needs", "decision (pre-registered)"), ("figure", "paper reports"),
        ("freshness", "evidence"), ("registration", "registration")])
    body = []
    for r in rows:
        iv = r["interval"]
        est = fmt(r["estimate"]) + (f" [{fmt(iv[0])}, {fmt(iv[1])}]" if iv else "")
        body.append(
            f'<tr data-paper="{esc(r["paper"])}" data-verdict="{esc(r["verdict"])}" id="row-{esc(r["id"])}">'
            f'<td><a href="claims/{esc(r["id"])}.html">{esc(r["id"])}</a></td>'
            f'<td><a href="papers/{esc(r["paper"])}.html">{esc(r["paper"])}</a></td>'
            f'<td data-v="{esc(r["verdict"])}" class="verdict">{_pill(r["verdict"])}</td>'
            f'<td class="num" data-v="{"" if r["estimate"] is None else r["estimate"]}">{esc(est)}</td>'
            f'<td class="num">{esc(r["seeds"])}</td><td><code>{esc(r["needs"])}</code></td>'
            f'<td class="small">{esc(r["figure"])}</td><td class="small">{esc(r["freshness"])}</td>'
            f'<td class="small">{esc(r["registration"])}</td></tr>')
    table = (f'<table id="claims"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body)
             + "\n</tbody></table>")
    return _page(f"arx — claims ({scale})", f"<h1>Claims</h1>{summary}<div class=\"summary\">{cards}</div>"
                 f"{filters}{table}", 0)


def _claim_page(art: Artifact, cid: str, scale: str, figures: list[str], nodes: list[ExplorationNode],
                plotter: SeedPlotter) -> str:
    data = explain(art, cid, scale, nodes=nodes)
    claim, paper = data["claim"], data["paper"]
    s = data["scales"].get(scale)
    parts = [f'<p class="muted small"><a href="../index.html">claims</a> / {esc(cid)}</p>',
             f"<h1>{esc(cid)} {_pill(data['verdict'] if s is not None else 'not checked')}</h1>",
             f'<p>{esc(claim["statement"])}</p>',
             f'<p class="small">Paper: <a href="../papers/{esc(paper["id"])}.html">{esc(paper["title"])}</a></p>',
             f'<blockquote>{esc(claim["paper_reports"]["quote"])}<br><span class="muted small">reports: '
             f'{esc(claim["paper_reports"]["figure"])}</span></blockquote>']
    cond = claim["conditions"]
    parts.append("<h2>Conditions</h2><dl>" + "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(', '.join(map(str, v)) if isinstance(v, list) else v)}</dd>"
        for k, v in cond.items() if v not in (None, "", []))
        + f"<dt>falsified if</dt><dd>{esc(claim['falsification'])}</dd></dl>")
    if s is None:
        parts.append(f"<h2>Check</h2><p>No check at scale <b>{esc(scale)}</b>; the claim is checked at "
                     f"{esc(', '.join(sorted(data['scales'])) or 'no scale')}.</p>")
    else:
        check = s["check"]
        parts.append(f"<h2>Check at {esc(scale)}</h2><p>Rule <code>{esc(s['rule'])}</code>, decision: "
                     f"{esc(s['decision'])}. {esc(s['reason'])}</p>")
        plots = []
        conds = [check] + check.get("also", [])
        for c, res in zip(conds, s["conditions"]):
            svg = plotter.svg(res["needs"], res["per_seed"], res["interval"], res["estimate"],
                              float(c["threshold"]), c["comparator"])
            iv = res["interval"]
            plots.append(f'<div class="plot card"><p>{_pill(res["verdict"])} <code>{esc(res["needs"])}</code><br>'
                         f'estimate {fmt(res["estimate"])}'
                         + (f' [{fmt(iv[0])}, {fmt(iv[1])}] ({int(100 * (res["level"] or 0))}% interval)' if iv
                            else "")
                         + f', {res["seeds_satisfying"]}/{res["n_seeds"]} seeds satisfy</p>{svg}</div>')
        parts.append('<div class="grid2">' + "".join(plots) + "</div>")
        if figures:
            parts.append("<h2>Figures of the experiment (seed 0)</h2><div class=\"grid2\">" + "".join(
                f'<img class="fig" src="../{esc(f)}" alt="{esc(Path(f).name)}">' for f in figures) + "</div>")
        rows = []
        for seed, ev in sorted(s["evidence"].items(), key=lambda kv: int(kv[0])):
            prov = ev["provenance"] or {}
            cfg = json.dumps(prov.get("config"), indent=1, sort_keys=True) if prov.get("config") else ""
            full = _provenance(art, ev["path"])
            code = json.dumps(full.get("code", {}), indent=1, sort_keys=True)
            packages = json.dumps(full.get("packages", {}), indent=1, sort_keys=True)
            rows.append(f"<tr><td>{esc(seed)}</td><td>{esc(ev['state'])}</td><td><code>{esc(ev['path'])}</code>"
                        f"</td><td><code>{esc((prov.get('git_commit') or '')[:10])}</code>"
                        f"{' (dirty)' if prov.get('git_dirty') else ''}</td><td class=\"num\">"
                        f"{fmt(prov.get('wall_s'))} s</td><td><details><summary>config</summary><pre>{esc(cfg)}"
                        f"</pre></details><details><summary>code hashes</summary><pre>{esc(code)}</pre></details>"
                        f"<details><summary>packages</summary><pre>{esc(packages)}</pre></details></td></tr>")
        parts.append('<h2>Evidence per seed</h2><table><thead><tr><th class="nosort">seed</th>'
                     '<th class="nosort">state</th><th class="nosort">metrics</th><th class="nosort">commit</th>'
                     '<th class="nosort">wall</th><th class="nosort">provenance</th></tr></thead><tbody>'
                     + "".join(rows) + "</tbody></table>")
        runs = []
        for r in s["runs"]:
            tail = "<br>".join(esc(x) for x in r["log_tail"])
            runs.append(f'<tr><td class="status-{esc(r["status"])}">{esc(r["status"])}</td>'
                        f'<td>{esc(r["seed"])}</td><td class="small">{esc(r["started"])}</td>'
                        f'<td class="num">{fmt(r["wall_s"])} s</td><td><code>{esc((r["git_commit"] or "")[:10])}'
                        f'</code></td><td class="small">{esc(r["error"])}{"<br>" if tail else ""}'
                        f'<code>{tail}</code></td></tr>')
        walls = [r["wall_s"] for r in s["runs"] if r["status"] == "succeeded" and r["wall_s"]]
        expected = f"about {fmt(sum(walls) / len(walls))} s per seed for this rule" if walls else "no earlier run"
        parts.append(f'<h2>Runs ({s["runs_total"]}, failed and interrupted included)</h2>'
                     '<table class="runs"><thead><tr><th class="nosort">status</th><th class="nosort">seed</th>'
                     '<th class="nosort">started</th><th class="nosort">wall</th><th class="nosort">commit</th>'
                     '<th class="nosort">error / log</th></tr></thead><tbody>' + "".join(runs) + "</tbody></table>")
        parts.append(f"<h2>Reproduce</h2><pre>snakemake reproduce_claim_{esc(cid)} --config scale={esc(scale)}\n"
                     f"{esc(s['reproduce'])}</pre><p class=\"muted small\">Expected time: {esc(expected)} "
                     "(upstream models not counted).</p>")
    hist = "".join(f'<li><b>{esc(h["date"])}</b> ({esc(h.get("by"))}): {esc(h["change"])}<br>'
                   f'<span class="muted small">{esc(h["reason"])}</span></li>' for h in claim.get("history", []))
    parts.append(f'<h2>History</h2><ul class="timeline">{hist}</ul>')
    notes = "".join(f'<li><span class="t-{esc(n["type"])}">{esc(n["type"])}</span> '
                    f'<a href="../exploration.html#{esc(n["id"])}">{esc(n["title"])}</a></li>' for n in data["notes"])
    by_id = {n.id: n for n in nodes}
    mine = {n.id: n for n in nodes if cid in n.claims and n.type != "run"}
    around = {**mine, **{p: by_id[p] for n in mine.values() for p in n.parents if p in by_id}}
    graph = (f'<div class="dagbox">{graph_svg(list(around.values()), href="../exploration.html#")}</div>'
             if around else "")
    parts.append(f"<h2>Exploration notes about this claim</h2>{graph}<ul>{notes or '<li>none</li>'}</ul>")
    return _page(f"{cid} — arx", "\n".join(parts), 1)


def _error_page(row: dict[str, Any]) -> str:
    return _page(f"{row['id']} — arx", f"<h1>{esc(row['id'])} {_pill('error')}</h1><p>The evidence of this claim "
                 f"cannot be read, so no verdict is computed:</p><pre>{esc(row['reason'])}</pre>", 1)


def _provenance(art: Artifact, path: str) -> dict[str, Any]:
    """The provenance block of a metrics file ({} when it is missing or unreadable: its state says why)."""
    try:
        return dict(json.loads((art.root / path).read_text()).get("provenance") or {})
    except (OSError, ValueError):
        return {}


def _paper_page(art: Artifact, pid: str, rows: list[dict[str, Any]]) -> str:
    p = art.papers[pid]
    sentences = "".join(f"<li>{esc(x)}</li>" for x in p.abstract_sentences)
    claims = "".join(f'<li><a href="../claims/{esc(r["id"])}.html">{esc(r["id"])}</a> {_pill(r["verdict"])}</li>'
                     for r in rows if r["paper"] == pid)
    links = " · ".join(x for x in [
        f'<a href="https://arxiv.org/abs/{esc(p.arxiv)}">arXiv {esc(p.arxiv)}</a>' if p.arxiv else "",
        f'<a href="{esc(p.code_url)}">upstream code</a>' if p.code_url else ""] if x)
    body = (f"<h1>{esc(p.title)}</h1><p class=\"muted\">{esc(', '.join(p.authors))}</p><p>{links}</p>"
            f"<h2>Claims</h2><ul>{claims or '<li>none</li>'}</ul><h2>Abstract</h2><ol>{sentences}</ol>")
    return _page(f"{p.title} — arx", body, 1)


LANES = ("question", "experiment", "decision", "pivot", "dead_end", "run")
LANE_COLOR = {"question": "#6b7785", "experiment": "#1f5fa8", "decision": "#0b7a75", "pivot": "#7b3fa0",
              "dead_end": "#c62828", "run": "#8aa1b8"}


def graph_svg(nodes: list[ExplorationNode], href: str = "#") -> str:
    """The nodes as a DAG drawn in time order: one lane per node type, one row per node (oldest on top), an edge
    from each parent to its child (edges always point down, since a parent is older). Dead ends and failed or
    interrupted runs are red; every node links to its details (``href`` + id)."""
    nodes = sorted(nodes, key=lambda n: n.id)
    row = {n.id: i for i, n in enumerate(nodes)}
    dx, dy, left, top = 120, 14, 20, 34
    x = {n.id: left + dx * LANES.index(n.type) + 40 for n in nodes}
    y = {n.id: top + dy * row[n.id] for n in nodes}
    width, height = left + dx * len(LANES) + 40, top + dy * max(len(nodes), 1) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="exploration graph">']
    parts += [f'<text x="{left + dx * i + 40}" y="16" text-anchor="middle" font-size="11" fill="#5b6670">'
              f'{esc(t)}</text>' for i, t in enumerate(LANES)]
    for n in nodes:
        for parent in n.parents:
            if parent in row:
                x0, y0, x1, y1 = x[parent], y[parent], x[n.id], y[n.id]
                parts.append(f'<path d="M{x0},{y0} C{x0},{(y0 + y1) / 2:.0f} {x1},{(y0 + y1) / 2:.0f} {x1},{y1}" '
                             'fill="none" stroke="#b8c4cf" stroke-width="1"/>')
    for n in nodes:
        bad = n.type == "dead_end" or (n.run is not None and n.run.status in ("failed", "interrupted"))
        color = "#c62828" if bad else LANE_COLOR[n.type]
        label = f"{n.type}{' ' + n.run.status if n.run is not None else ''}: {n.title}"
        parts.append(f'<a href="{esc(href)}{esc(n.id)}"><circle cx="{x[n.id]}" cy="{y[n.id]}" r="{5 if bad else 4}" '
                     f'fill="{color}" class="node{" bad" if bad else ""}" data-id="{esc(n.id)}"><title>{esc(label)}'
                     "</title></circle></a>")
    parts.append("</svg>")
    return "".join(parts)


def _exploration_page(nodes: list[ExplorationNode]) -> str:
    nodes = sorted(nodes, key=lambda n: n.id)
    children: dict[str, list[str]] = {}
    for n in nodes:
        for parent in n.parents:
            children.setdefault(parent, []).append(n.id)
    types = sorted({n.type for n in nodes})
    claims = sorted({c for n in nodes for c in n.claims})
    rows = []
    for n in nodes:
        status = n.run.status if n.run is not None else ""
        kind = f'<span class="t-{esc(n.type)}">{esc(n.type)}</span>' + (
            f' <span class="status-{esc(status)}">{esc(status)}</span>' if status else "")
        links = " ".join(f'<a href="#{esc(p)}">↑{esc(p[:15])}</a>' for p in n.parents) + " " + " ".join(
            f'<a href="#{esc(c)}">↓{esc(c[:15])}</a>' for c in children.get(n.id, []))
        detail = n.model_dump(mode="json", exclude_none=True, exclude={"id", "title", "type", "parents", "claims"})
        rows.append(f'<tr id="{esc(n.id)}" data-type="{esc(n.type)}" data-status="{esc(status)}" '
                    f'data-claim="{esc(" ".join(n.claims))}"><td class="small">{esc(n.id[:15])}</td><td>{kind}</td>'
                    f'<td>{esc(n.title)}<details><summary class="small muted">details</summary><pre>'
                    f'{esc(json.dumps(detail, indent=1, sort_keys=True))}</pre></details></td>'
                    f'<td class="small">{", ".join(f"<a href=claims/{esc(c)}.html>{esc(c)}</a>" for c in n.claims)}'
                    f'</td><td class="small">{links}</td></tr>')
    dead = sum(n.type == "dead_end" for n in nodes)
    failed = sum(n.run is not None and n.run.status in ("failed", "interrupted") for n in nodes)
    filters = ('<div class="filters">' + _select("nodes", "type", "type", types)
               + f'<label>claim <input data-filter="nodes" list="claim-ids" placeholder="claim id"></label>'
               f'<datalist id="claim-ids">{"".join(f"<option value={esc(c)}>" for c in claims)}</datalist>'
               + '<span class="muted small"><span id="nodes-count"></span> shown</span></div>')
    body = (f"<h1>Exploration graph</h1><p class=\"muted\">{len(nodes)} nodes: every run (failed and interrupted "
            f"included: {failed}), question, decision, dead end ({dead}) and pivot, as appended to "
            "<code>exploration/nodes/</code>. ↑ parents, ↓ children; nothing is hidden. In the graph, time runs "
            "down, one lane per type, red marks dead ends and failed runs; click a node for its details.</p>"
            f'<details open><summary>graph</summary><div class="dagbox">{graph_svg(nodes)}</div></details>' + filters
            + '<table id="nodes"><thead><tr><th data-key="id">id</th><th data-key="type">type</th>'
            '<th data-key="title">title</th><th data-key="claims">claims</th><th class="nosort">links</th></tr>'
            "</thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>")
    return _page("arx — exploration", body, 0)


def _compare_page(art: Artifact, scale: str) -> str:
    rules = sorted({c.checks[scale].rule for c in art.claims.values() if scale in c.checks and c.retired is None})
    parts = [f"<h1>Runs by config ({esc(scale)} claims' rules)</h1><p class=\"muted\">Each rule's evidence grouped "
             "by resolved config minus the seed (<code>arx compare</code>): mean over seeds, 95% interval and n per "
             "key a claim reads, and the config keys that differ between groups.</p>"]
    for rule in rules:
        try:
            rows, header = as_rows(compare(art, rule, []))
        except ArtifactError as e:
            parts.append(f"<h2>{esc(rule)}</h2><p class=\"muted\">{esc(e.one_line())}</p>")
            continue
        head = "".join(f'<th class="nosort">{esc(h)}</th>' for h in header)
        body = "".join("<tr>" + "".join(f"<td class=\"small\">{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
        parts.append(f"<h2>{esc(rule)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return _page("arx — runs by config", "\n".join(parts), 0)


def _figures(art: Artifact, cid: str, scale: str, out: Path) -> list[str]:
    """The experiment's own PNG plots of seed 0, copied into the site (``figures/<rule>/<name>``)."""
    check = art.claims[cid].checks.get(scale)
    if check is None:
        return []
    seeds = art.seeds(scale)
    src = art.root / Path(check.evidence_for(seeds[0])).parent
    found = []
    for png in sorted(src.glob("*.png")):
        rel = f"figures/{check.rule}/{scale}/{png.name}"
        dest = out / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, dest)
        found.append(rel)
    return found


def build_report(art: Artifact, scale: str, out: Path, siblings: Sequence[str] = ()) -> ReportSummary:
    """Write the site under ``out`` (replaced): every page, the assets and the experiments' figures. ``siblings``:
    the scales built next to it (``out/../<scale>/``), which the index links to."""
    if scale not in art.manifest.scales:
        raise ArtifactError("--scale", "scale", f"unknown scale {scale!r}",
                            f"use one of {', '.join(art.manifest.scales)}", code="ARX205")
    if out.exists():
        shutil.rmtree(out)
    (out / "assets").mkdir(parents=True)
    (out / "assets" / "style.css").write_text(CSS.lstrip())
    (out / "assets" / "app.js").write_text(JS.lstrip())
    rows = _claim_rows(art, scale)
    nodes = list(iter_nodes(art.root))
    pages = {"index.html": _index(art, scale, rows, siblings), "exploration.html": _exploration_page(nodes),
             "compare.html": _compare_page(art, scale)}
    plotter = SeedPlotter()
    try:
        for r in rows:
            pages[f"claims/{r['id']}.html"] = (
                _claim_page(art, r["id"], scale, _figures(art, r["id"], scale, out), nodes, plotter)
                if r["verdict"] != "error" else _error_page(r))
    finally:
        plotter.close()
    for pid in sorted(art.papers):
        pages[f"papers/{pid}.html"] = _paper_page(art, pid, rows)
    for rel, text in pages.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    counts = {v: sum(r["verdict"] == v for r in rows if r["has_check"]) for v in VERDICTS}
    return ReportSummary(out, len(pages), len(rows), counts)
