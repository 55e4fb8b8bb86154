"""The README's plug-in example, run exactly as written: a user's codec file and the spec that uses it."""

import json
import re
from pathlib import Path

from semlink.cli import main
from semlink.sweep import read_table

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_examples() -> dict[str, str]:
    """File name -> content of each fenced block announced by ``<!-- example: NAME -->``."""
    text = README.read_text()
    found = re.findall(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```", text, flags=re.S)
    return dict(found)


def test_readme_plugin_example_runs_from_its_spec(tmp_path, monkeypatch):
    files = {k: v for k, v in readme_examples().items() if k.startswith("mycodec")}
    assert set(files) == {"mycodec.py", "mycodec.toml"}
    assert len(files["mycodec.py"].splitlines()) <= 30
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    monkeypatch.chdir(tmp_path)  # the spec names the plug-in file relative to the current directory
    assert main(["sweep", "mycodec.toml", "--quiet", "--workers", "2"]) == 0
    rows = read_table(tmp_path / "results" / "mycodec" / "results.csv")
    assert len(rows) == 2 * 3 * 3  # items x (thumbnail at 2 rates + jpeg2000) x SNRs
    thumbs = [r for r in rows if r["codec"] == "thumbnail"]
    assert {r["rate"] for r in thumbs} == {"quality=8", "quality=4"}
    # every part counted at its own link settings: header (1 byte) at QPSK r1/2, pixels at 16-QAM r3/4
    shapes = {"astronaut": (512, 512), "chelsea": (300, 451)}
    for r in thumbs:
        sym = json.loads(r["symbols_by_part"]) if isinstance(r["symbols_by_part"], str) else r["symbols_by_part"]
        assert sym["header"] == 648 // 2  # one rate-1/2 codeword of 648 bits on QPSK
        (h, w), f = shapes[r["item"]], int(r["rate"].split("=")[1])
        assert float(r["bits"]) == 8 * (1 + (h // f) * (w // f) * 3)
    best = max(float(r["psnr"]) for r in thumbs if float(r["snr_db"]) == 20.0)
    assert best > 20  # the thumbnail arrives (with some concealed packets) at 20 dB
    assert (tmp_path / "results" / "mycodec" / "psnr_vs_snr.png").stat().st_size > 0


def test_readme_custom_rate_key_and_metric_example_runs(tmp_path, monkeypatch):
    files = {k: v for k, v in readme_examples().items() if k.startswith("mylab")}
    assert set(files) == {"mylab.py", "mylab.toml"}
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "mylab.toml", "--quiet"]) == 0
    rows = read_table(tmp_path / "results" / "mylab" / "results.csv")
    assert len(rows) == 2 * 2 and {r["rate"] for r in rows} == {"levels=4", "levels=16"}
    clean = {r["rate"]: r for r in rows if float(r["snr_db"]) == 30.0}
    assert float(clean["levels=16"]["max_abs_err"]) < float(clean["levels=4"]["max_abs_err"]) <= 64
    assert float(clean["levels=16"]["psnr"]) > float(clean["levels=4"]["psnr"])
    lost = [r for r in rows if float(r["snr_db"]) == 6.0]
    assert all(str(r["decoded_ok"]) in ("False", "True") for r in lost)  # decoded or concealed, never a crash
