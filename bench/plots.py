"""PNG plots of benchmark results: ``python -m bench.plots DIR`` (``make bench`` runs it).

Role: reads every ``DIR/<bench>.jsonl`` that ``python -m bench`` wrote (one JSON line per
figure, ``bench.common.emit``) and draws ``DIR/<bench>.png``: one horizontal bar chart per unit
(figures of different units do not share an axis), each figure's value next to what it is
measured against in the same run, its ``ceiling`` or its ``peer`` (another system, such as
moto_server in ``bench.wire``), with the ratio written beside the bar. Lines that are not
figures (no ``figure`` or no numeric ``value``) are ignored, so a results file may hold other
output too.

Invariants: plotting never runs inside a benchmark (the benchmarks print and record numbers;
this module only reads them); it draws with matplotlib's non-interactive Agg backend, so it
needs no display. Must not import ray, rocksdict or ``raydynamo``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

BAR_HEIGHT = 0.38
OURS_COLOR = "#3b75af"
OTHER_COLOR = "#b0b0b0"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def read_figures(path: Path) -> list[dict[str, Any]]:
    """The figure lines of one results file, in order (other lines skipped)."""
    figures = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict) and "figure" in line and _number(line.get("value")) is not None:
            figures.append(line)
    return figures


def comparison(line: dict[str, Any]) -> tuple[str, float] | None:
    """What a figure is measured against: (label, value) of its ceiling or its peer."""
    for key, label_key in (("ceiling", "ceiling_name"), ("peer", "peer_name")):
        value = _number(line.get(key))
        if value is not None:
            return str(line.get(label_key) or key), value
    return None


def _by_unit(figures: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for line in figures:
        groups.setdefault(str(line.get("unit", "")), []).append(line)
    return groups


def _draw_unit(axes: Any, unit: str, lines: list[dict[str, Any]]) -> None:
    """One panel: a bar per figure (blue) over its ceiling or peer (grey), ratio beside it."""
    labels_seen: set[str] = set()
    for row, line in enumerate(lines):
        value = _number(line["value"]) or 0.0
        axes.barh(row - BAR_HEIGHT / 2, value, BAR_HEIGHT, color=OURS_COLOR)
        text = f"{value:,.4g}"
        ratio = _number(line.get("ratio"))
        if ratio is not None:
            text += f"  (x{ratio:.2f})"
        axes.annotate(
            text,
            (value, row - BAR_HEIGHT / 2),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
        other = comparison(line)
        if other is not None:
            label = other[0] if other[0] not in labels_seen else None
            labels_seen.add(other[0])
            axes.barh(row + BAR_HEIGHT / 2, other[1], BAR_HEIGHT, color=OTHER_COLOR, label=label)
    axes.set_yticks(range(len(lines)), [str(line["figure"]) for line in lines], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel(unit or "value", fontsize=8)
    axes.tick_params(axis="x", labelsize=7)
    axes.margins(x=0.25)
    if labels_seen:
        axes.legend(fontsize=6, loc="lower right")


def draw(figures: list[dict[str, Any]], title: str, out_path: Path) -> Path:
    """Draw ``figures`` (lines of one benchmark) into the PNG ``out_path``; returns it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    groups = _by_unit(figures)
    heights = [max(1.2, 0.45 * len(lines) + 0.8) for lines in groups.values()]
    fig, panels = pyplot.subplots(
        len(groups), 1, figsize=(9, sum(heights) + 0.6), height_ratios=heights, squeeze=False
    )
    try:
        for axes, (unit, lines) in zip(panels[:, 0], groups.items(), strict=True):
            _draw_unit(axes, unit, lines)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        fig.savefig(out_path, dpi=110)
    finally:
        pyplot.close(fig)
    return out_path


def plot_directory(results_dir: Path) -> list[Path]:
    """One PNG beside every ``*.jsonl`` of ``results_dir`` that holds figures."""
    drawn = []
    for path in sorted(results_dir.glob("*.jsonl")):
        figures = read_figures(path)
        if figures:
            title = f"bench.{path.stem}: value (blue) against ceiling or peer (grey)"
            drawn.append(draw(figures, title, path.with_suffix(".png")))
    return drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plots", description=__doc__)
    parser.add_argument("results_dir", type=Path, help="where python -m bench wrote *.jsonl")
    ns = parser.parse_args(argv)
    if not ns.results_dir.is_dir():
        parser.error(f"{ns.results_dir} is not a directory")
    for path in plot_directory(ns.results_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
