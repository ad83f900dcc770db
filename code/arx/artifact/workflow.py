"""What ``workflows/Snakefile`` needs at parse time, kept out of the Snakefile so it can be tested.

Parse time is read-only: it loads the manifest and claim files and builds strings; nothing is written, so
``snakemake -n`` has no side effects. The run command deliberately carries no git commit (that would make
every rule out of date after each commit); ``arx.run`` records the commit in provenance instead.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from .load import ArtifactError, claim_paths, find_root, load_claim, load_manifest
from .schema import Claim, Manifest


def _quote(s: str) -> str:
    """Shell-quote. Braces are left alone: Snakemake formats them (``{wildcards.model}``); write ``{{`` for a brace."""
    return shlex.quote(s)


_WILDCARD = re.compile(r"(?<!{){(\w+)}(?!})")


@dataclass
class Workflow:
    root: Path
    manifest: Manifest
    scale: str
    claims: list[Claim]

    @classmethod
    def load(cls, start: Path, config: dict) -> Workflow:
        root = find_root(start)
        manifest = load_manifest(root)
        scale = str(config.get("scale", manifest.default_scale))
        if scale not in manifest.scales:
            raise ArtifactError("--config", "scale", f"unknown scale {scale!r}",
                                f"use --config scale={'|'.join(manifest.scales)}")
        claims = [load_claim(p, root) for p in claim_paths(root)]
        return cls(root, manifest, scale, claims)

    def smk_files(self) -> list[str]:
        return [str(p) for p in sorted((self.root / "workflows").glob("*.smk"))]

    def metrics_path(self, experiment: str, paper: str, out: str | None = None) -> str:
        """``evidence/<paper>/<experiment>/metrics.json``: the output a rule declares."""
        return f"{out or f'evidence/{paper}/{experiment}'}/metrics.json"

    def run_command(self, experiment: str, paper: str, out: str | None = None, wildcards: tuple[str, ...] = (),
                    **sets) -> str:
        """Shell command for a rule: ``python -m arx.run <experiment>`` with this scale and paper config.

        ``out`` may hold wildcards as in the output pattern (``evidence/zoo/small/{model_id}``); they are
        rewritten for the shell (``{wildcards.model_id}``) and recorded in the run node, as are the names in
        ``wildcards``. Keyword arguments become ``--set key=value`` (``__`` for a dot: ``model__layers=2``).
        """
        out_dir = out or f"evidence/{paper}/{experiment}"
        names = [*_WILDCARD.findall(out_dir), *wildcards]
        parts = [_quote(sys.executable), "-m", "arx.run", _quote(experiment),
                 "--paper-config", _quote(f"workflows/config/{paper}.yaml"),
                 "--scale", _quote(self.scale), "--out", _quote(_WILDCARD.sub(r"{wildcards.\1}", out_dir)),
                 "--rule", "{rule}"]
        for w in dict.fromkeys(names):
            parts += ["--wildcard", _quote(f"{w}={{wildcards.{w}}}")]
        for k, v in sets.items():
            parts += ["--set", _quote(f"{k.replace('__', '.')}={v}")]
        return " ".join(parts)

    def review_command(self, claim: str | None = None, verdict_exit: bool = False) -> str:
        parts = [_quote(sys.executable), "-m", "arx.cli", "review", "--scale", _quote(self.scale)]
        if claim:
            parts += ["--claim", _quote(claim)]
        if not verdict_exit:
            parts.append("--exit-zero-on-verdict")
        return " ".join(parts)

    def claim_inputs(self, claim: Claim) -> list[str]:
        check = claim.checks.get(self.scale)
        return [check.evidence] if check else []

    def missing_rules(self, rule_names: set[str]) -> list[str]:
        """Claims whose check at this scale names a rule that no .smk defines."""
        return [f"logic/claims/{c.id}.yaml: checks.{self.scale}.rule {c.checks[self.scale].rule!r} is not defined "
                f"in any workflows/*.smk" for c in self.claims
                if self.scale in c.checks and c.checks[self.scale].rule not in rule_names]

    def scale_mismatches(self) -> list[str]:
        """Cited evidence that exists but was produced at another scale (same path at every scale).

        Snakemake reruns it by itself when its metadata saw the other scale's command; on a fresh clone it
        cannot know, so the fix is printed instead of guessed.
        """
        out = []
        for path, rule in sorted({(c.checks[self.scale].evidence, c.checks[self.scale].rule)
                                  for c in self.claims if self.scale in c.checks}):
            try:
                produced = json.loads((self.root / path).read_text())["provenance"]["scale"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if produced != self.scale:
                out.append(f"{path} was produced at scale {produced}, not {self.scale}; add "
                           f"`--forcerun {rule}` to rebuild it")
        return out
