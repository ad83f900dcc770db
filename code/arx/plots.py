"""The one way every experiment and method writes a figure: headless backend, layout, save, close.

Why: each plot used to repeat the backend switch, the save and the close (a forgotten close leaks figures over
a long workflow). Only what the figure shows stays with its experiment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def saved_figure(path: Path, figsize: tuple[float, float], ncols: int = 1, dpi: int = 110, squeeze: bool = True,
                 tight: bool = True) -> Iterator[tuple[Any, Any]]:
    """``with saved_figure(path, (5, 3)) as (fig, ax): ...`` draws and writes ``path`` (PNG, Agg backend).

    ``tight``: ``tight_layout`` before saving; ``False`` saves with ``bbox_inches="tight"`` instead (for figures
    with a colorbar spanning several axes, which ``tight_layout`` cannot place).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=figsize, squeeze=squeeze)
    try:
        yield fig, axes
        if tight:
            fig.tight_layout()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches=None if tight else "tight")
    finally:
        plt.close(fig)
