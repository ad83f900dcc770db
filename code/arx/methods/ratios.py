"""One rule for ratios of effects: a ratio whose denominator is not positive is undefined (``None``).

Why: experiments used to return 1e9, 1e6 or inf when a control's effect was <= 0, and a ``>=`` check then
passed a degenerate run ("the random control did nothing, so ours is infinitely better"). ``None`` is written
as JSON ``null`` and review computes such a claim as inconclusive, which is what the run shows.
"""

from __future__ import annotations

import math


def safe_ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` when the denominator is <= 0 or either value is not finite."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return None
    return numerator / denominator
