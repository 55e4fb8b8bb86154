"""Does the semantic map follow objects or colours? The colour map (v1) against the VGG-16 map (v2).

    semlink figure gan-c2f-map [results/gan-c2f-map] [--option recompute=true]

Both maps are fitted exactly as the trainer fits them (:func:`.semantic_map.fit_centres`:
the training corpus, seed, ``k``), then applied to hold-out pictures (never training data: the
7 ``photos`` and the first frame of each of the 3 evaluation ``clips``, at their own
resolution) and to four recoloured versions of each (:data:`RECOLOURINGS`: the objects stay,
their colours change). A map whose classes follow objects gives the recoloured photo the same
map; a map of colours does not. Agreement is the adjusted Rand index (ARI, scikit-learn;
1 = the same partition up to class names, 0 = chance) between a photo's map and its recoloured
version's map. Also measured: the map's transmitted size (raw DEFLATE) in bits per pixel.

Outputs in the results folder: ``map_invariance.csv`` (one row per descriptor, k, picture and
recolouring), ``map_summary.csv`` (means with 95 % intervals over the pictures),
``map_paired.csv`` (VGG-16 minus colour ``same_class``, paired per picture, per recolouring
and pooled over the four: a picture's mean),
``centres_<features>_k<k>.npy`` (the fitted centres, so that the pictures can be redrawn
without the corpus), and ``maps.png``: photos chosen by rule (the first, middle and last of
the set by name) with both maps over them, before and after a recolouring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from semlink.figures import register_figure

#: colour changes that keep every object in place (uint8 [H, W, 3] -> uint8 [H, W, 3])
RECOLOURINGS = ("bgr", "hue+120", "darker", "grey")
#: the corpus and seed of the v2 base recipe (``recipes/base-rd-v2.toml``)
CORPUS = "folder:~/.cache/semlink/corpus/pack-v2"
SEED = 1
KS = (8, 16)
FEATURES = ("colour", "vgg16")


def recolour(image: np.ndarray, how: str) -> np.ndarray:
    """``image`` (uint8 [H, W, 3]) recoloured by ``how`` (:data:`RECOLOURINGS`)."""
    from skimage.color import hsv2rgb, rgb2hsv

    if how == "bgr":
        return np.ascontiguousarray(image[..., ::-1])
    if how == "hue+120":
        hsv = rgb2hsv(image)
        hsv[..., 0] = (hsv[..., 0] + 1 / 3) % 1.0
        return (hsv2rgb(hsv) * 255 + 0.5).clip(0, 255).astype(np.uint8)
    if how == "darker":  # 60 % of the light, in linear light (gamma 2.2)
        return ((((image / 255.0) ** 2.2) * 0.6) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)
    if how == "grey":
        y = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return np.repeat((y + 0.5).clip(0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    raise ValueError(f"recolouring must be one of {RECOLOURINGS}, got {how!r}")


def fit_all(corpus: str = CORPUS, ks=KS, seed: int = SEED) -> dict[tuple[str, int], np.ndarray]:  # pragma: no cover (minutes)
    """(features, k) -> centres fitted on the training corpus as the trainer fits them."""
    from semlink.train.data import load_training_images

    from .semantic_map import kmeans_centres, sample_blocks

    images = [im.data for im in load_training_images(corpus)]
    out = {}
    for f in FEATURES:
        feats = sample_blocks(images, 16, seed, features=f)
        for k in ks:
            out[(f, k)] = kmeans_centres(feats, k, seed, f)
    return out


def invariance(photos: dict[str, np.ndarray], centres: dict[tuple[str, int], np.ndarray]) -> pd.DataFrame:
    """One row per (features, k, photo, recolouring): ``same_class``, ``ari`` and the original
    map's ``map_bpp``."""
    from sklearn.metrics import adjusted_rand_score

    from .semantic_map import encode_map, label_map

    rows = []
    for name, img in photos.items():
        variants = {how: recolour(img, how) for how in RECOLOURINGS}
        for (f, k), c in centres.items():
            base = label_map(img, c, 16, f)
            bpp = 8 * len(encode_map(base)) / (img.shape[0] * img.shape[1])
            for how, v in variants.items():
                other = label_map(v, c, 16, f)
                rows.append({"features": f, "k": k, "photo": name, "recolouring": how,
                             "same_class": float((other == base).mean()),
                             "ari": float(adjusted_rand_score(base.ravel(), other.ravel())), "map_bpp": bpp})
    return pd.DataFrame(rows)


def _summary(df: pd.DataFrame) -> pd.DataFrame:
    from semlink.results import summarize

    by = ["features", "k", "recolouring"]
    out = None
    for m in ("same_class", "ari"):
        s = summarize(df, by, m).rename(columns={"mean": f"{m}_mean", "half_width": f"{m}_ci95"})
        s = s[by + (["n"] if out is None else []) + [f"{m}_mean", f"{m}_ci95"]]
        out = s if out is None else out.merge(s, on=by)
    b = summarize(df.drop_duplicates(["features", "k", "photo"]), ["features", "k"], "map_bpp")
    b = b.rename(columns={"mean": "map_bpp_mean", "half_width": "map_bpp_ci95"})
    return out.merge(b[["features", "k", "map_bpp_mean", "map_bpp_ci95"]], on=["features", "k"])


def paired(df: pd.DataFrame) -> pd.DataFrame:
    """VGG-16 minus colour ``same_class`` per (k, recolouring), paired by picture, with 95 %
    intervals; recolouring ``"all"`` pools a picture's four recolourings into its mean first."""
    from semlink.results import summarize

    p = df.pivot_table(index=["k", "recolouring", "photo"], columns="features", values="same_class").reset_index()
    p["diff"] = p["vgg16"] - p["colour"]
    pooled = p.groupby(["k", "photo"], as_index=False)["diff"].mean().assign(recolouring="all")
    s = summarize(pd.concat([p, pooled]), ["k", "recolouring"], "diff")
    return s[["k", "recolouring", "n", "mean", "ci_low", "ci_high"]].rename(columns={"mean": "vgg16_minus_colour"})


def holdout_pictures() -> dict[str, np.ndarray]:
    """The 7 ``photos`` and the first frame of each evaluation clip (uint8 [H, W, 3], own size)."""
    from semlink.data import get_dataset

    out = {it.name: it.data for it in get_dataset("photos")}
    out.update({f"{it.name}/f000": np.ascontiguousarray(it.data[0]) for it in get_dataset("clips")})
    return out


def _overlay(img: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The photo in grey with each block tinted by its class (tab20 colours)."""
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    colours = (np.array([cmap(i % 20)[:3] for i in range(k)]) * 255)
    tint = np.kron(colours[labels], np.ones((16, 16, 1)))[: img.shape[0], : img.shape[1]]
    grey = (img.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))[..., None]
    return (0.35 * grey + 0.65 * tint).clip(0, 255).astype(np.uint8)


def draw_maps(photos: dict[str, np.ndarray], centres: dict[tuple[str, int], np.ndarray], k: int, out: Path,
              how: str = "bgr") -> Path:
    """``maps.png``: per photo chosen by rule, the photo, its colour map, its VGG-16 map, then the
    same three for the recoloured photo (``how``)."""
    from semlink.results import new_figure, save

    from .semantic_map import label_map

    names = sorted(n for n in photos if "/" not in n)  # the photos
    chosen = list(dict.fromkeys([names[0], names[len(names) // 2], names[-1]]))
    cols = ["photo", f"colour map (k={k})", f"VGG-16 map (k={k})", f"recoloured ({how})", "colour map", "VGG-16 map"]
    fig = new_figure(figsize=(2.2 * len(cols), 1.9 * len(chosen) + 0.4))
    axes = fig.subplots(len(chosen), len(cols), squeeze=False)
    for r, name in enumerate(chosen):
        img = photos[name]
        v = recolour(img, how)
        panels = [img, _overlay(img, label_map(img, centres[("colour", k)], 16, "colour"), k),
                  _overlay(img, label_map(img, centres[("vgg16", k)], 16, "vgg16"), k),
                  v, _overlay(v, label_map(v, centres[("colour", k)], 16, "colour"), k),
                  _overlay(v, label_map(v, centres[("vgg16", k)], 16, "vgg16"), k)]
        for c, p in enumerate(panels):
            a = axes[r][c]
            a.imshow(p)
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(cols[c], fontsize=8)
        axes[r][0].set_ylabel(name, fontsize=7)
    fig.tight_layout()
    return save(fig, out / "maps", formats=("png",), dpi=110, palette=False)[0]


@register_figure("gan-c2f-map", inputs=("results/gan-c2f-map",), codes=True, options={
    "recompute": (False, "fit the maps on the training corpus and measure again (minutes; needs the corpus)"),
    "k": (8, "classes of the maps drawn in maps.png")},
    summary="gan-c2f semantic map: colour vs VGG-16 k-means classes kept under recolouring, map bits, pictures "
            "(map_invariance.csv, map_summary.csv, map_paired.csv, maps.png)")
def make(inputs: list[Path], out: Path, recompute: bool = False, k: int = 8) -> list[Path]:
    from semlink.tables import write_csv

    folder = Path(inputs[0])
    photos = holdout_pictures()
    files = {(f, kk): folder / f"centres_{f}_k{kk}.npy" for f in FEATURES for kk in KS}
    if recompute or not all(p.is_file() for p in files.values()):
        centres = fit_all()
        folder.mkdir(parents=True, exist_ok=True)
        for key, c in centres.items():
            np.save(files[key], c)
    else:
        centres = {key: np.load(p) for key, p in files.items()}
    csv = folder / "map_invariance.csv"
    if recompute or not csv.is_file():
        df = invariance(photos, centres)
        write_csv(csv, df.to_dict("records"), list(df.columns), float_format=".5g")
    df = pd.read_csv(csv)
    summ = _summary(df)
    write_csv(out / "map_summary.csv", summ.to_dict("records"), list(summ.columns), float_format=".4g")
    pair = paired(df)
    write_csv(out / "map_paired.csv", pair.to_dict("records"), list(pair.columns), float_format=".4g")
    return [csv, out / "map_summary.csv", out / "map_paired.csv", draw_maps(photos, centres, int(k), Path(out))]
