"""``bench.plots`` and the results files of ``python -m bench``: JSON lines in, PNG out.

No benchmark runs here: two figure lines recorded the way ``bench.common.emit`` records them (one
with a ceiling, one with a peer) become a non-empty PNG beside their file; lines that are not
figures are skipped; a directory without results draws nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import plots
from bench.common import emit, recording

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_emit_records_its_lines_only_inside_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results" / "wire.jsonl"
    emit("wire", "before", 1.0, "ops/s")
    with recording(str(path)):
        emit("wire", "put_item.16_threads", 812.0, "ops/s", ratio=2.5, peer=324.8)
    emit("wire", "after", 1.0, "ops/s")
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert [line["figure"] for line in lines] == ["put_item.16_threads"]
    assert lines[0]["peer"] == 324.8
    assert capsys.readouterr().out.count("\n") == 3  # stdout still gets every line


def test_plot_directory_draws_one_png_per_results_file(tmp_path: Path) -> None:
    (tmp_path / "wire.jsonl").write_text(
        "\n".join(
            [
                json.dumps({"bench": "wire", "figure": "put_item.16_threads", "value": 812.0,
                            "unit": "ops/s", "ratio": 2.5, "peer": 324.8,
                            "peer_name": "moto_server"}),
                "not a figure: a log line",
                json.dumps({"bench": "wire", "figure": "batch_write_item.16_threads",
                            "value": 3100.0, "unit": "items/s", "ceiling": 14450.0}),
                json.dumps({"bench": "wire", "figure": "no_value", "value": None}),
            ]
        )
        + "\n"
    )  # fmt: skip
    (tmp_path / "empty.jsonl").write_text("")
    drawn = plots.plot_directory(tmp_path)
    assert drawn == [tmp_path / "wire.png"]
    png = drawn[0].read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 1000
    assert not (tmp_path / "empty.png").exists()


def test_a_figure_is_compared_with_its_ceiling_else_its_peer() -> None:
    ceiling = {"figure": "a", "value": 1.0, "ceiling": 2.0, "ceiling_name": "bare put"}
    peer = {"figure": "b", "value": 3.0, "peer": 1.5}
    assert plots.comparison(ceiling) == ("bare put", 2.0)
    assert plots.comparison(peer) == ("peer", 1.5)
    assert plots.comparison({"figure": "c", "value": 1.0}) is None
