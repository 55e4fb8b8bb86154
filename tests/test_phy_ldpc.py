"""802.11n LDPC code: matrices, systematic linear-time encoding, decoder interface."""

import numpy as np
import pytest

from semlink.phy.ldpc import LDPCCode, ieee80211n_base_matrix, ieee80211n_parity_check_matrix


def _gf2_rank(h: np.ndarray) -> int:
    m = h.copy().astype(np.uint8)
    rank, rows, cols = 0, m.shape[0], m.shape[1]
    for c in range(cols):
        piv = np.nonzero(m[rank:, c])[0]
        if piv.size == 0:
            continue
        p = rank + piv[0]
        m[[rank, p]] = m[[p, rank]]
        others = np.nonzero(m[:, c])[0]
        others = others[others != rank]
        m[others] ^= m[rank]
        rank += 1
        if rank == rows:
            break
    return rank


def test_rate_34_matrix_properties():
    h = ieee80211n_parity_check_matrix(648, "3/4")
    assert h.shape == (162, 648)
    assert int(h.sum()) == 2376
    assert _gf2_rank(h) == 162
    base = ieee80211n_base_matrix(648, "3/4")
    assert list((base >= 0).sum(axis=1)) == [15, 15, 15, 14, 14, 15]
    # column 18: the weight-3 parity column with shifts 1, 0, 1 in block rows 0, 3, 5
    assert [int(base[r, 18]) for r in (0, 3, 5)] == [1, 0, 1]


def test_rate_12_matches_sionna_example_code():
    from sionna.phy.fec.utils import load_parity_check_examples

    pcm, k, n, rate = load_parity_check_examples(4)
    assert (k, n) == (324, 648)
    np.testing.assert_array_equal(ieee80211n_parity_check_matrix(648, "1/2"), pcm)


@pytest.mark.parametrize("rate,k", [("3/4", 486), ("1/2", 324)])
def test_encoding_is_systematic_codewords(rate, k):
    code = LDPCCode(648, rate)
    assert code.k == k and code.n == 648
    u = np.random.default_rng(1).integers(0, 2, (500, k), dtype=np.uint8)
    c = code.encode(u)
    assert c.shape == (500, 648)
    np.testing.assert_array_equal(c[:, :k], u)  # information bits first
    h = ieee80211n_parity_check_matrix(648, rate).astype(np.int64)
    assert not ((c.astype(np.int64) @ h.T) % 2).any()  # H c = 0
    # linearity: c(u1 + u2) = c(u1) + c(u2)
    np.testing.assert_array_equal(code.encode(u[:250] ^ u[250:]), c[:250] ^ c[250:])
    # the numba word encoder and the numpy bit-array reference agree
    np.testing.assert_array_equal(code._encode_numpy(u), c)
    assert code.encode(np.zeros((0, k), np.uint8)).shape == (0, 648)


def test_encode_keeps_leading_dims():
    code = LDPCCode()
    u = np.zeros((2, 3, 486), dtype=np.uint8)
    assert code.encode(u).shape == (2, 3, 648)


@pytest.mark.parametrize("decoder", ["sionna", "fast"])
def test_decoders_recover_noiseless_and_noisy_words(decoder):
    code = LDPCCode(decoder=decoder)
    rng = np.random.default_rng(2)
    u = rng.integers(0, 2, (64, 486), dtype=np.uint8)
    c = code.encode(u)
    # LLR convention log P(1)/P(0): positive for 1
    llr = (2.0 * c - 1.0) * 4.0 + rng.normal(0, 1.0, c.shape)
    np.testing.assert_array_equal(code.decode(llr.astype(np.float32)), u)


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="rate='5/6'"):
        LDPCCode(648, "5/6")
    with pytest.raises(ValueError, match="decoder"):
        LDPCCode(decoder="magic")
    with pytest.raises(ValueError, match="last dimension k=486"):
        LDPCCode().encode(np.zeros((2, 100), dtype=np.uint8))
    with pytest.raises(ValueError, match="last dimension n=648"):
        LDPCCode().decode(np.zeros((2, 100), dtype=np.float32))
