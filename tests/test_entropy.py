"""semlink.entropy: CompressAI glue, tables, rANS, latent coders and checkpoints with tables."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from semlink.entropy import (INSTALL_COMMAND, SYMBOL_CLIP, FactorizedCoder, GaussianCoder, Tables, channel_indexes,
                             decode_hyper, encode_hyper, entropy_bottleneck_cls, export_model,
                             gaussian_conditional_cls, import_compressai, load_with_tables, rans_decode, rans_encode,
                             scale_table, tables_digest)
from semlink.errors import ConfigError, UnavailableError
from semlink.zoo.checkpoints import CheckpointError, read_checkpoint


def _eb(c=4, seed=0):
    torch.manual_seed(seed)
    eb = entropy_bottleneck_cls()(c)
    with torch.no_grad():
        eb.quantiles.mul_(3.0)
    eb.update(force=True)
    return eb.eval()


def _gc():
    gc = gaussian_conditional_cls()(None)
    gc.update_scale_table(scale_table(), force=True)
    return gc.eval()


def test_missing_compressai_names_the_install_command(monkeypatch):
    import_compressai.cache_clear()
    monkeypatch.setitem(sys.modules, "compressai", None)  # "import compressai" raises ImportError
    try:
        with pytest.raises(UnavailableError) as err:
            import_compressai()
        assert isinstance(err.value, ConfigError)
        assert INSTALL_COMMAND == "pip install --no-deps compressai==1.2.8 torch-geometric==2.8.1"
        assert INSTALL_COMMAND in str(err.value)
    finally:
        monkeypatch.undo()
        import_compressai.cache_clear()
    assert import_compressai().__name__ == "compressai"


def test_importing_the_package_is_light():
    code = "import sys, semlink.entropy; print(sorted(m for m in ('torch', 'numba', 'compressai') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_channel_indexes_follow_c_order():
    idx = channel_indexes((2, 3, 1, 2))
    assert idx.dtype == np.int32 and idx.tolist() == [0, 0, 1, 1, 2, 2] * 2


def test_factorized_coder_is_compressai_bit_exact_and_codes_channel_prefixes():
    eb = _eb()
    fc = FactorizedCoder(eb)
    y = torch.randn(1, 4, 5, 6) * 4
    data = fc.encode(y)
    assert data == eb.compress(y)[0]  # CompressAI's own string
    y_hat, problem = fc.decode(data, y.shape)
    assert problem == "" and torch.equal(y_hat, eb.decompress([data], y.shape[-2:]))
    two, problem = fc.decode(fc.encode(y, channels=2), (1, 2, 5, 6))  # the first 2 channels only
    assert problem == "" and torch.equal(two, y_hat[:, :2])
    batch = torch.randn(3, 4, 2, 2) * 4  # any N
    assert torch.equal(fc.decode(fc.encode(batch), batch.shape)[0], fc.dequantize(fc.symbols(batch), batch.shape))


def test_gaussian_coder_and_the_hyper_pattern():
    gc, eb = _gc(), _eb(3, seed=1)
    yc, zc = GaussianCoder(gc), FactorizedCoder(eb)
    y, scales, means = torch.randn(1, 5, 4, 4) * 6, torch.rand(1, 5, 4, 4) * 5 + 0.2, torch.randn(1, 5, 4, 4)
    data = yc.encode(y, scales, means)
    assert data == gc.compress(y, gc.build_indexes(scales), means)[0]
    y_hat, problem = yc.decode(data, scales, means)
    assert problem == "" and torch.equal(y_hat, torch.round(y - means) + means)
    z = torch.randn(1, 3, 1, 1) * 3

    def params(z_hat):  # scales and means of y from z_hat, as a hyper-decoder would
        return scales * (1 + z_hat.abs().mean()), means

    z_str, y_str = encode_hyper(zc, yc, y, z, params)
    y_hat, problems = decode_hyper(zc, yc, z_str, y_str, z.shape, params)
    assert problems == ("", "") and torch.equal(y_hat, torch.round(y - means) + means)
    _, problems = decode_hyper(zc, yc, z_str[:-4], y_str, z.shape, params)
    assert problems[0]


def test_damaged_strings_decode_to_clipped_values_and_a_problem():
    fc = FactorizedCoder(_eb(), clip=7)
    rng = np.random.default_rng(0)
    for _ in range(20):
        junk = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
        y_hat, problem = fc.decode(junk, (1, 4, 4, 4))
        assert problem and y_hat.shape == (1, 4, 4, 4)
        assert float((y_hat - fc.medians).abs().max()) <= 7 + 1e-4
    assert SYMBOL_CLIP == 1 << 20


def test_rans_round_trip_with_escapes():
    t = Tables(np.array([[0, 30000, 65000, 65536]]), np.array([4]), np.array([-1]))
    assert t.cdf.dtype == np.int32 and t.offsets.dtype == np.int64 and len(t) == 1
    sym = np.array([-1, 0, 5, -300, 70000, 0], dtype=np.int32)  # 5, -300, 70000: escape-coded
    data = rans_encode(sym, np.zeros(6, np.int32), t)
    back, problem = rans_decode(data, np.zeros(6, np.int32), t)
    assert problem == "" and back.tolist() == sym.tolist()
    _, problem = rans_decode(data + b"\0\0\0\0", np.zeros(6, np.int32), t)
    assert "left unread" in problem


class _Tiny(torch.nn.Module):
    """A model with two entropy models and semlink's update() interface."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 2, 1)
        self.eb = entropy_bottleneck_cls()(3)
        self.gc = gaussian_conditional_cls()(None)

    def update(self, force: bool = True) -> None:
        self.eb.update(force=True)
        self.gc.update_scale_table(scale_table(), force=True)


def test_checkpoints_without_tables_recompute_and_check_them(tmp_path):
    torch.manual_seed(0)
    model = _Tiny()
    export_model(model, tmp_path / "new.pt", arch="Tiny", config={}, meta={"note": 1})
    export_model(model, tmp_path / "old.pt", arch="Tiny", config={}, tables=True)
    new, old = read_checkpoint(tmp_path / "new.pt"), read_checkpoint(tmp_path / "old.pt")
    assert not any(k.endswith("_quantized_cdf") for k in new["state_dict"])
    assert any(k.endswith("_quantized_cdf") for k in old["state_dict"])
    assert new["meta"]["note"] == 1 and new["meta"]["tables_sha256"] == old["meta"]["tables_sha256"]
    a, b = load_with_tables(_Tiny(), new), load_with_tables(_Tiny(), old)
    assert tables_digest(a) == tables_digest(b) == new["meta"]["tables_sha256"]
    assert torch.equal(a.conv.weight, model.conv.weight.half().float())  # rounded before the tables
    with pytest.raises(CheckpointError, match="computed on this machine"):
        load_with_tables(_Tiny(), dict(new, meta={"tables_sha256": "0" * 16}))
    bad = dict(new, state_dict={k: v for k, v in new["state_dict"].items() if k != "conv.bias"})
    with pytest.raises(CheckpointError, match="do not fit Tiny.*conv.bias"):
        load_with_tables(_Tiny(), bad, what="Tiny")


def test_semantic_exports_hold_no_tables_but_their_digest(tmp_path):
    from semlink.semantic.gan_c2f.checkpoint import export_base, load_base
    from semlink.semantic.gan_c2f.model import BaseLayer
    from semlink.semantic.seb.checkpoint import export_seb, load_seb
    from semlink.semantic.seb.model import SebModel

    torch.manual_seed(0)
    export_base(BaseLayer(k=2, c_latent=2, n=8, widths=(8,) * 5, hidden=4, levels=(1, 2)), tmp_path / "b.pt")
    export_seb(SebModel(8, 4, inter={"n": 8, "m_motion": 8, "m_residual": 8, "mc_ch": 4}), tmp_path / "s.pt")
    for name, load in (("b.pt", load_base), ("s.pt", load_seb)):
        ck = read_checkpoint(tmp_path / name)
        assert not any(k.endswith("_quantized_cdf") for k in ck["state_dict"])
        assert tables_digest(load(ck)) == ck["meta"]["tables_sha256"]
