"""``vqdeepvsc``: VQ-DeepVSC (seed 002) as a channel-adaptive video codec, bytes in, bytes out.

>>> codec = get_codec("vqdeepvsc")                           # the shipped zoo models
>>> enc = codec.encode(clip, bcr=0.023, channel_state=state)  # clip uint8 [N, H, W, 3]
>>> rec = codec.decode(received)                              # rec.frames uint8 [N, H, W, 3]

Encoder (transmitter), per clip:

1. frame importance beta (eq. 4) from the interpolator (option ``importance``: "ssim" =
   1 - SSIM, "perceptual" = the perceptual metric's distance);
2. key-frame ratio rho: option ``rho`` = "adaptive" (the fitted SNR law of eqs. 5-8 shipped
   in ``rho_fit.json``, one per channel model, evaluated at ``channel_state.snr_db`` with the law of
   ``channel_state.channel``, else the pooled law; 1.0 without a channel state) or
   a fixed number; M = round(rho N), clipped to [2, N]; v = the top-M frames (first and last
   always);
3. MSVQ indices of the key frames (eq. 9), the first ``c`` channels of each;
4. index selection with threshold ``eta`` (eqs. 16-17);
5. the budget: ``bcr`` (bits / (3 H W 8 N), everything transmitted counted) fixes c (option
   ``channels`` = "auto": among the channel counts whose single copy fits the budget with EVERY
   frame a key frame, the fewest within 0.005 MS-SSIM of the best of them, by the table
   measured on training frames for the zoo's MSVQ, :mod:`.channel_fit`; another MSVQ: the most
   that fit; "most": the most that fit, v1's rule; a number: fixed) and the repetitions r = floor(budget / one copy) (at most ``max_repeats``): bits
   a channel would not turn into quality, and fewer key frames under a poor channel, become
   copies sent at the same BCR (the paper's retransmission). Without ``bcr``: c = the largest
   level, r = 1.

Decoder (receiver): header (first CRC-valid copy), combined copies of ``p`` and ``indices``
(:mod:`.bitstream`), the restorer, MSVQ decoding of the M key frames, and the interpolator
(option ``interpolator``: "learned" = IFNet + FusionNet, "dis" = OpenCV DIS flow, the labelled
classical variant) for the N - M others, joined by the video seam.

Decoding never raises: an unusable header gives a mid-grey clip (``decoded_ok=False``). What
damaged indices or masks give is the option ``on_loss``:

* ``"conceal"`` (default): every key frame gets a reliability q_k, the expected fraction of its
  indices that are right, from the combined copies' CRCs and channel LLRs
  (:mod:`.concealment`); key frames with q_k >= 0.9 are decoded and the others are filled by
  the seam from their kept neighbours (interpolated between two, repeated at the ends), as any
  non-key frame is; when none reaches 0.9 those with q_k >= 0.25 are decoded; when none reaches
  0.25 the clip is mid-grey. Thresholds measured on training clips (:mod:`.concealment`).
* ``"decode"``: every key frame is decoded from whatever indices arrived (v1's behaviour).

Either way ``decoded_ok=False``, the reason names what was unchecked or dropped, and
``recovered`` = the fraction of index/mask bytes checked by a CRC in some copy.

Option ``precision`` ("auto" default, "fp32", "bf16"): the receiver's networks (MSVQ decoder,
learned interpolator) run under bf16 autocast where the CPU has native bf16 ("auto": avx512_bf16
/ amx_bf16, :func:`semlink.precision.resolve_amp`), 1.7-1.9x faster here; the decoded frames then
differ from float32 decoding by about 58 dB PSNR (measured on a 240x320 key frame). The
transmitter always runs in float32 (the indices sent do not depend on the machine). The
resolved precision is part of :meth:`tool` (so of a sweep's fingerprint).

Frames are padded to multiples of 16 (edge replicate) and cropped back.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from semlink.codecs._util import check_context, check_on_loss, grey, one_rate, validate_video
from semlink.codecs.base import ChannelState, Codec, Encoded, Reconstruction
from semlink.codecs.received import Received
from semlink.codecs.registry import register_codec
from semlink.models import MODELS

from . import bitstream as bs
from .channel_fit import shipped_channel_table
from .concealment import index_reliability, key_frame_reliability, kept_key_frames
from .keyframes import RhoLaws, frame_importance, seam, select_key_frames, shipped_rho_law, ssim_distance
from .selector import restore, select

CODEC = "vqdeepvsc"
PARTS = ("header", "p", "indices")
PAD = 16


class _Models:
    def __init__(self, msvq_ckpt: dict, interp_ckpt: dict | None, msvq_sha256: str) -> None:
        from .checkpoint import load_interpolator, load_msvq

        self.msvq = load_msvq(msvq_ckpt)
        table = shipped_channel_table()
        #: the measured quality per channel count, when it was measured for this MSVQ
        self.channel_table = table if table is not None and table.msvq_sha256 == msvq_sha256 else None
        self.codebook = self.msvq.quantizer.codebook.detach().cpu().numpy().astype(np.float64)
        self.interp = load_interpolator(interp_ckpt) if interp_ckpt is not None else None
        self.lock = threading.Lock()


def _pad(frames: np.ndarray) -> np.ndarray:
    n, h, w, _ = frames.shape
    ph, pw = (-h) % PAD, (-w) % PAD
    return np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else frames


@register_codec(CODEC)
class VQDeepVSCCodec(Codec):
    """AKEI (key frames by SNR) + MSVQ (multi-channel VQ indices) + index selector."""

    zoo_codecs = ("vqdeepvsc",)
    kind = "video"
    rate_keys = ("bcr",)
    native_rate_key = "bcr"
    channel_adaptive = True
    wants_llr = True

    def __init__(self, rho: float | str = "adaptive", eta: float = 1.0, channels: int | str = "auto",
                 interpolator: str = "learned", importance: str = "ssim", max_repeats: int = 32,
                 msvq: str | None = None, interp: str | None = None, manifest: str | None = None,
                 on_loss: str = "conceal", precision: str = "auto") -> None:
        """Args:
            rho: "adaptive" (fitted SNR law) or a fixed key-frame ratio in (0, 1].
            eta: selector threshold (eq. 17); 1.0 = the paper's setting.
            channels: "auto" (the fewest channels worth their bits that fit the BCR; module
                docstring), "most" (the most channels that fit: v1's rule) or a fixed count.
            interpolator: "learned" (IFNet + FusionNet) or "dis" (OpenCV DIS flow, classical).
            importance: f_is of eq. 4: "ssim" (1 - SSIM) or "perceptual" (ST-LPIPS distance).
            max_repeats: most copies of the index stream under a poor channel.
            msvq, interp: user-trained checkpoints instead of the zoo's; manifest: another zoo.
            on_loss: "conceal" (default: unreliable key frames are dropped and filled by the seam)
                or "decode" (every key frame decoded from what arrived); module docstring.
            precision: the receiver networks' arithmetic: "auto" (bf16 where native), "fp32", "bf16".
        """
        if not (rho == "adaptive" or (isinstance(rho, (int, float)) and 0 < float(rho) <= 1)):
            raise ValueError(f"{CODEC}: option rho must be 'adaptive' or a number in (0, 1], got {rho!r}")
        if not isinstance(eta, (int, float)) or not -1 <= float(eta) <= 2:
            raise ValueError(f"{CODEC}: option eta must be a number in [-1, 2] (cosine threshold), got {eta!r}")
        if not (channels in ("auto", "most") or (isinstance(channels, int) and not isinstance(channels, bool) and channels >= 1)):
            raise ValueError(f"{CODEC}: option channels must be 'auto', 'most' or a positive integer, got {channels!r}")
        if interpolator not in ("learned", "dis"):
            raise ValueError(f"{CODEC}: option interpolator must be 'learned' or 'dis', got {interpolator!r}")
        if importance not in ("ssim", "perceptual"):
            raise ValueError(f"{CODEC}: option importance must be 'ssim' or 'perceptual', got {importance!r}")
        if not isinstance(max_repeats, int) or not 1 <= max_repeats <= 255:
            raise ValueError(f"{CODEC}: option max_repeats must be an integer in 1..255, got {max_repeats!r}")
        self.rho, self.eta, self.channels = rho, float(eta), channels
        self.interpolator, self.importance, self.max_repeats = interpolator, importance, max_repeats
        self.msvq_path, self.interp_path, self.manifest = msvq, interp, manifest
        self.on_loss = check_on_loss(on_loss)
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"{CODEC}: option precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
        self.precision = precision
        self._bf16: bool | None = None
        self._law: RhoLaws | None = None
        self._perc = None
        self._beta: OrderedDict[str, np.ndarray] = OrderedDict()  # eq. 4 per clip (see _importance)

    # --- models --------------------------------------------------------------------------
    def _models(self) -> _Models:
        """The loaded networks (once per process: :data:`semlink.models.MODELS`)."""
        return MODELS.get((CODEC, self.msvq_path, self.interp_path, self.manifest), self._load_models)

    def _load_models(self) -> _Models:
        from semlink.zoo.checkpoints import load_checkpoint, read_checkpoint, read_manifest

        if self.msvq_path is not None:
            from semlink.cache import sha256_file

            mck, sha = read_checkpoint(self.msvq_path), sha256_file(self.msvq_path)
            ick = read_checkpoint(self.interp_path) if self.interp_path else None
        else:
            models, _ = read_manifest(self.manifest)
            mine = {e.get("role"): e for e in models if e.get("codec") == CODEC}
            if "msvq" not in mine:
                raise ValueError(f"{CODEC}: the manifest lists no MSVQ model (role = 'msvq'); train one with "
                                 "`semlink train vqdeepvsc-msvq --recipe semlink/semantic/vqdeepvsc/recipes/msvq-cpu.toml` "
                                 "and pass msvq=...")
            mck, sha = load_checkpoint(mine["msvq"]["name"], self.manifest), str(mine["msvq"].get("sha256", ""))
            ick = load_checkpoint(mine["interpolator"]["name"], self.manifest) if "interpolator" in mine else None
        return _Models(mck, ick, sha)

    def rho_law(self) -> RhoLaws | None:
        if self._law is None:
            self._law = shipped_rho_law()
        return self._law

    def part_names(self) -> tuple[str, ...]:
        return PARTS

    def rate_points(self) -> list[Any]:
        return [0.01, 0.015, 0.023, 0.035]

    def decode_bf16(self) -> bool:
        """True when the receiver's networks run under bf16 autocast (option ``precision``;
        "auto" is resolved once per codec)."""
        if self._bf16 is None:
            if self.precision == "auto":
                from semlink.precision import resolve_amp

                self._bf16 = resolve_amp("auto", "cpu").bf16
            else:
                self._bf16 = self.precision == "bf16"
        return self._bf16

    def tool(self) -> str:
        return f"semlink vqdeepvsc v{bs.VERSION} (receiver {'bf16' if self.decode_bf16() else 'fp32'})"

    def _interpolate(self, models: _Models, bf16: bool = False):
        if self.interpolator == "dis" or models.interp is None:
            if self.interpolator == "learned" and models.interp is None:
                raise ValueError(f"{CODEC}: no learned interpolator in the zoo; use interpolator='dis'")
            from .interp import dis_interpolate

            return dis_interpolate
        from .interp import learned_interpolate

        def f(a, b, ts):
            with models.lock:
                return learned_interpolate(models.interp, a, b, ts, bf16=bf16)

        return f

    def _distance(self):
        if self.importance == "ssim":
            return ssim_distance
        if self._perc is None:
            from semlink.simulator.metrics import perceptual_metric

            self._perc = perceptual_metric("auto")
        return lambda a, b: float(self._perc(b, a))

    # --- encode --------------------------------------------------------------------------
    #: clips whose eq.-4 scores a codec keeps (a sweep codes each clip at every SNR and trial)
    IMPORTANCE_CACHE = 8

    def _importance(self, clip: np.ndarray, models: _Models) -> np.ndarray:
        """Eq. 4's beta float64 [N] of ``clip`` uint8 [N, H, W, 3]. It depends only on the frames,
        the interpolator and the distance (fixed for a codec), not on the SNR, the key-frame ratio
        or the budget, so the scores of the last :attr:`IMPORTANCE_CACHE` clips are kept: the
        interpolations of every frame are most of an encoding's time."""
        key = f"{clip.shape}:{hashlib.blake2b(clip.tobytes(), digest_size=16).hexdigest()}"
        beta = self._beta.get(key)
        if beta is None:
            beta = frame_importance(clip, self._interpolate(models), self._distance())
            self._beta[key] = beta
        try:  # (threads of one worker may share the codec: a key another thread just dropped is no error)
            self._beta.move_to_end(key)
            while len(self._beta) > self.IMPORTANCE_CACHE:
                self._beta.popitem(last=False)
        except KeyError:
            pass
        return beta.copy()

    def _key_ratio(self, state: ChannelState | None) -> tuple[float, str]:
        if self.rho != "adaptive":
            return float(self.rho), "fixed"
        if state is None:
            return 1.0, "no channel state"
        law = self.rho_law()
        if law is None:
            raise ValueError(f"{CODEC}: rho='adaptive' needs the fitted law rho_fit.json "
                             "(python -m semlink.semantic.vqdeepvsc.rho_fit); give a fixed rho=...")
        rule, name = law.law_for(state.channel)
        return rule(state.snr_db), f"adaptive ({name} law)"

    def encode(self, item: np.ndarray, *, bcr: float | None = None, channel_state: ChannelState | None = None,
               **extra: Any) -> Encoded:
        """Code uint8 [N, H, W, 3] (N >= 2) within ``bcr`` (every transmitted bit counted)."""
        import torch

        check_context(extra)
        clip = validate_video(item)
        key, value = one_rate({"bcr": bcr}, ("bcr",))
        n, h, w, _ = clip.shape
        if not 2 <= n <= 255:
            raise ValueError(f"{CODEC}: clips must have 2..255 frames, got {n}")
        if channel_state is not None and not isinstance(channel_state, ChannelState):
            raise ValueError(f"{CODEC}: channel_state must be a ChannelState, got {type(channel_state).__name__}")
        models = self._models()
        msvq = models.msvq
        rho, rho_src = self._key_ratio(channel_state)
        m = int(min(n, max(2, round(rho * n))))
        beta = self._importance(clip, models) if m < n else np.full(n, np.inf)
        v = select_key_frames(beta, m)
        keys = np.flatnonzero(v)
        padded = _pad(clip)
        x = torch.from_numpy(padded[keys]).permute(0, 3, 1, 2).float() / 255
        with models.lock, torch.no_grad():
            idx_all = torch.cat([msvq.encode_indices(x[i : i + 4]) for i in range(0, len(keys), 4)]).numpy()
        hl, wl = idx_all.shape[-2:]
        b = msvq.bits_per_index
        budget = None if value is None else value * 3 * h * w * 8 * n
        levels = [k for k in msvq.levels]

        def sizes(c: int, mm: int, l_eta: int) -> tuple[int, int, int]:
            ls = hl * wl * c
            return (bs.Header.block_size(n) * bs.HEADER_COPIES, math.ceil(ls * (mm - 1) / 8), math.ceil(l_eta * b / 8))

        def selected(k: int):
            sk = idx_all[:, :k].reshape(len(keys), -1)  # [M, L_s], channel-major: s_m = [s^(1); ...; s^(c)]
            return select(sk, models.codebook, self.eta)

        if self.channels not in ("auto", "most"):
            c, c_src = int(self.channels), "fixed"
            if c > msvq.c:
                raise ValueError(f"{CODEC}: channels={c} but the model has {msvq.c}")
        elif budget is None:
            c, c_src = levels[-1], "no budget: all"
        else:
            # the channel counts whose one copy fits the budget with EVERY frame a key frame (the
            # channel configuration is fixed by the BCR; fewer key frames are repeated instead),
            # estimated from the key frames' selection scaled to N frames
            def fits(k: int) -> bool:
                se, _ = selected(k)
                return 8 * sum(sizes(k, n, math.ceil(se.size * n / len(keys)))) <= budget

            fitting = [k for k in levels if fits(k)]
            if not fitting:
                c, c_src = levels[0], "fewest (none fits)"
            elif self.channels == "auto" and models.channel_table is not None:
                c, c_src = models.channel_table.choose(fitting), "measured table"
            else:
                c, c_src = max(fitting), "most that fit"
        s_eta, p = selected(c)
        hdr_b, p_b, i_b = sizes(c, m, s_eta.size)
        once = 8 * (p_b + i_b)
        r = 1 if budget is None else int(max(1, min(self.max_repeats, (budget - 8 * hdr_b) // max(once, 1))))
        header = bs.Header(n, h, w, c, b, r, int(s_eta.size), tuple(int(t) for t in v))
        parts = {"header": header.pack(), "p": bs.repeat(bs.pack_uint(p.reshape(-1), 1), r),
                 "indices": bs.repeat(bs.pack_uint(s_eta, b), r)}
        total = 8 * sum(len(q) for q in parts.values())
        ls = hl * wl * c
        info = {"tool": self.tool(), "rho": round(rho, 4), "rho_source": rho_src, "key_frames": m, "channels": c,
                "channels_source": c_src,
                "repeats": r, "eta": self.eta, "l_s": ls, "l_eta": int(s_eta.size), "bits_per_index": b,
                "bcr_eq19": round(bs.bcr_eq19(n, h, w, int(s_eta.size), b, ls, m), 6),
                "bcr": round(total / (3 * h * w * 8 * n), 6),
                "bits_v": n, "bits_s_eta": int(s_eta.size) * b, "bits_p": ls * (m - 1), "bits_header": 8 * hdr_b,
                "interpolator": self.interpolator}
        if budget is not None:
            info.update(target_bcr=value, target_met=total <= budget)
        return Encoded(CODEC, "video", tuple(clip.shape), parts, info)

    # --- decode --------------------------------------------------------------------------
    def decode(self, received: Received) -> Reconstruction:
        return self._decode(received)  # the Codec base conceals any failure (semlink.codecs.base.guarded)

    def _decode(self, received: Received) -> Reconstruction:
        import torch

        shape = tuple(received.shape)
        try:
            hp = received.part("header")
            header = bs.Header.parse(hp.data, hp.llr)
        except (KeyError, ValueError) as e:
            return Reconstruction(grey(shape), False, f"{CODEC}: header unusable ({e})", 0.0)
        models = self._models()
        msvq = models.msvq
        n, h, w = header.n, header.h, header.w
        if len(shape) == 4 and (shape[0], shape[1], shape[2]) != (n, h, w):
            return Reconstruction(grey(shape), False, f"{CODEC}: header says {n}x{h}x{w}, source is {shape[:3]}", 0.0)
        if header.b != msvq.bits_per_index or header.c > msvq.c:
            return Reconstruction(grey(shape), False, f"{CODEC}: header B={header.b}, c={header.c} do not match the model", 0.0)
        hl, wl = (h + (-h) % PAD) // msvq.factor, (w + (-w) % PAD) // msvq.factor
        m, c, r = header.m, header.c, header.r
        ls = hl * wl * c
        p_b, i_b = math.ceil(ls * (m - 1) / 8), math.ceil(header.l_eta * header.b / 8)
        notes, fractions = [], []

        def part(name, size):
            try:
                rp = received.part(name)
            except KeyError:
                notes.append(f"part {name} missing")
                fractions.append(0.0)
                return bytes(size), np.full(8 * size, 0.5)
            if len(rp.data) != r * size:
                notes.append(f"part {name} has {len(rp.data)} bytes, header implies {r * size}")
            data, frac, bit_error = bs.combine_soft(rp.data, rp.byte_ok(), rp.llr, r, size)
            fractions.append(frac)
            if frac < 1:
                notes.append(f"{name}: {100 * (1 - frac):.1f} % of bytes unchecked in every copy")
            return data, bit_error

        p_bytes, p_error = part("p", p_b)
        i_bytes, i_error = part("indices", i_b)
        recovered = float(np.mean(fractions)) if fractions else 1.0
        p = bs.unpack_uint(p_bytes, ls * (m - 1), 1).reshape(max(m - 1, 0), ls)
        s_eta = bs.unpack_uint(i_bytes, header.l_eta, header.b)
        s, consistent = restore(s_eta, p, m, ls)
        if not consistent:
            notes.append("restorer: s_eta length disagrees with the masks")
        kept = np.ones(m, bool)
        if notes and self.on_loss == "conceal":
            q = key_frame_reliability(index_reliability(i_error, header.l_eta, header.b), p, p_error, m, ls)
            kept = kept_key_frames(q)
            listed = ", ".join(f"{v:.2f}" for v in q[:8]) + (", ..." if m > 8 else "")
            if not kept.any():
                notes.append(f"no key frame reliable (expected fraction of right indices {listed}); mid-grey")
                return Reconstruction(grey(shape), False, "; ".join(notes), recovered)
            if not kept.all():
                notes.append(f"{int((~kept).sum())} of {m} key frames dropped as unreliable "
                             f"(expected fraction of right indices {listed}); filled from the kept ones")
        idx = torch.from_numpy(s.reshape(m, c, hl, wl)[kept])
        bf16 = self.decode_bf16()
        with models.lock, torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            keys = torch.cat([msvq.decode_indices(idx[i : i + 4], c).float() for i in range(0, len(idx), 4)])
        key_frames = [(k.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)[:h, :w] for k in keys]
        v = np.array(header.v)
        v[np.flatnonzero(v)[~kept]] = 0
        frames = seam(key_frames, v, self._interpolate(models, bf16))
        return Reconstruction(frames, not notes, "; ".join(notes), recovered)
