"""semlink.tables.write_csv: the package's one (atomic) CSV writer."""

import csv

import numpy as np

from semlink.tables import write_csv


def test_write_csv_columns_cells_and_atomic_replace(tmp_path):
    path = tmp_path / "sub" / "t.csv"
    path.parent.mkdir()
    path.write_text("old contents\n")
    rows = [{"a": 1, "b": 0.123456789, "c": None}, {"b": 2.0, "d": {"x": np.int64(3)}, "a": 2}]
    assert write_csv(path, rows, float_format=".3g") == path
    got = list(csv.reader(open(path)))
    assert got == [["a", "b", "c", "d"], ["1", "0.123", "", ""], ["2", "2", "", '{"x": 3}']]
    assert [p.name for p in path.parent.iterdir()] == ["t.csv"]  # no temporary file left behind
    # explicit columns: order kept, other keys left out, missing cells empty
    write_csv(path, rows, ["d", "a"])
    assert list(csv.reader(open(path))) == [["d", "a"], ["", "1"], ['{"x": 3}', "2"]]
