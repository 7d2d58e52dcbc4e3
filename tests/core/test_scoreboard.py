"""The book's scoreboard: every chapter's published verdict rows gathered into one table and one CSV."""
import csv
import json

import pytest

from reprolib.core import book
from reprolib.core.chapter import SCOREBOARD_COLUMNS, Verdicts, scoreboard


def _publish(monkeypatch, directory, chapter, profile, claims):
    monkeypatch.setenv("REPROLIB_VERDICTS", str(directory))
    v = Verdicts(chapter, profile, f"{profile}: tiny")
    for claim, a, b in claims:
        v.compare(claim, a, b, reported="1 > 0", scale=100)
    v.not_run(f"{chapter}: the dataset is absent", "not available offline", reported="13.15")
    return v.publish()


def test_scoreboard_gathers_every_published_chapter_in_order(tmp_path, monkeypatch):
    high, low = [0.90, 0.91, 0.92], [0.80, 0.81, 0.79]
    _publish(monkeypatch, tmp_path, "zeta", "cpu", [("zeta beats", high, low)])
    _publish(monkeypatch, tmp_path, "alpha", "cpu", [("alpha beats", low, high), ("alpha ties", high, high)])
    _publish(monkeypatch, tmp_path, "alpha", "smoke", [("smoke row", high, low)])
    board = scoreboard(tmp_path, "cpu", order=["zeta"])
    assert list(board.columns) == list(SCOREBOARD_COLUMNS)
    # toc order first (zeta), then the others alphabetically; each chapter keeps its own row order
    assert list(board.chapter) == ["zeta", "zeta", "alpha", "alpha", "alpha"]
    assert list(board.claim[2:4]) == ["alpha beats", "alpha ties"]
    assert list(board.verdict) == ["reproduced", "not run", "not reproduced", "inconclusive", "not run"]
    assert board.ours[0] == "91.00 ± 1.00 (n=3) vs 80.00 ± 1.00 (n=3)" and board.n[0] == "3 vs 3"
    assert set(board.profile) == {"cpu"} and board.scale[0] == "cpu: tiny"
    assert len(scoreboard(tmp_path)) == 7  # every profile when none is named


def test_scoreboard_of_an_empty_or_missing_folder_is_empty(tmp_path):
    assert scoreboard(tmp_path / "nowhere").empty
    assert list(scoreboard(tmp_path).columns) == list(SCOREBOARD_COLUMNS)


def test_a_foreign_json_file_is_named(tmp_path):
    (tmp_path / "junk.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="junk.json is not a published verdict file"):
        scoreboard(tmp_path)


def test_write_scoreboard_writes_the_same_rows_as_csv(tmp_path, monkeypatch):
    _publish(monkeypatch, tmp_path / "v", "alpha", "cpu", [("a | b, with a comma", [1.0, 1.1], [0.0, 0.1])])
    path = book.write_scoreboard(tmp_path / "v", tmp_path / "out" / book.SCOREBOARD_CSV, "cpu")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(SCOREBOARD_COLUMNS)
    assert [r["claim"] for r in rows] == ["a | b, with a comma", "alpha: the dataset is absent"]
    assert rows[0]["verdict"] == "reproduced" and rows[1]["verdict"] == "not run" and rows[1]["reported"] == "13.15"
