"""``semlink zoo``: the shipped models and how each was made (``semlink zoo list [--json]``)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("zoo", help="list the shipped trained models and how they were made",
                              description="Every shipped checkpoint with its manifest facts (data, recipe, steps, "
                                          "device, wall time, training/validation/test figures); loaders check the sha256.")
    sub = p.add_subparsers(dest="zoo_command", required=True)
    lp = sub.add_parser("list", help="one line per model (or --json: the whole manifest entries)")
    lp.add_argument("--json", action="store_true", help="print the manifest entries as JSON")
    lp.add_argument("--verify", action="store_true", help="also check every file's sha256")
    lp.set_defaults(func=_list)
    ap = sub.add_parser("add", help="ship a training run's export in the zoo, with its provenance and test figures",
                        description="Copy RUN's export to ZOO/NAME.pt and write its manifest entries: the facts of the "
                                    "run and of every run it was --init'ed from (data, corpus, recipe, steps, device, "
                                    "hours, training and validation figures) and the task's test figures.")
    ap.add_argument("run", help="training run directory (holds train_state.pt)")
    ap.add_argument("--name", required=True, help="manifest name (and file name NAME.pt)")
    ap.add_argument("--zoo", default=None, help="zoo folder or manifest.json (default: the shipped zoo)")
    ap.add_argument("--use", choices=("last", "best"), default="last",
                    help="the run's export (last) or best.pt (lowest validation loss)")
    ap.add_argument("--quality", type=int, default=None, help="rate-point id, where the task needs one")
    ap.add_argument("--recipe", default="", help="the recipe file the run was made with (recorded)")
    ap.add_argument("--note", default="", help="free text recorded in the entry")
    ap.add_argument("--no-test", action="store_true", help="write the entries without test figures")
    ap.set_defaults(func=_add)
    rp = sub.add_parser("retest", help="measure an entry's test figures again with today's code (training facts kept)",
                        description="Measure the test figures of zoo entry NAME (and of the entries sharing its "
                                    "file) again: after a change that moves them, e.g. a codec default or a model "
                                    "another codec loads.")
    rp.add_argument("name", help="manifest name")
    rp.add_argument("--zoo", default=None, help="zoo folder or manifest.json (default: the shipped zoo)")
    rp.add_argument("--task", default=None, help="training task that evaluates it (default: the entry's 'model')")
    rp.add_argument("--note", default="", help="why (recorded as retest_note)")
    rp.set_defaults(func=_retest)
    return p


def _retest(args: argparse.Namespace) -> int:
    from semlink.train.zoo_add import retest

    for e in retest(args.name, zoo=args.zoo, task=args.task, note=args.note):
        print(json.dumps({k: e[k] for k in ("name", "test_bpp", "test_psnr_db", "test_ms_ssim") if k in e}))
    return 0


def _add(args: argparse.Namespace) -> int:
    from semlink.train.zoo_add import add_run

    entries = add_run(args.run, args.name, zoo=args.zoo, use=args.use, quality=args.quality, recipe=args.recipe,
                      note=args.note, test=not args.no_test)
    for e in entries:
        summary = {k: e[k] for k in ("name", "codec", "quality", "qualities", "role", "steps", "train_seconds",
                                      "test_bpp", "test_psnr_db", "test_ms_ssim") if k in e}
        print(json.dumps(summary))
    return 0


def _list(args: argparse.Namespace) -> int:
    from semlink.zoo import manifest
    from semlink.zoo.checkpoints import verify_file, zoo_dir

    models = manifest()

    def _lam(v) -> str:  # a number, or a range such as '64-2048' (one network, several rate levels)
        return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)[:13]

    if args.verify:
        for m in models:
            verify_file(zoo_dir() / m["file"], m["sha256"])
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    print(f"{'name':16s} {'codec':11s} {'q':>3s} {'arch':22s} {'lambda':>7s} {'steps':>6s} {'device':6s} {'hours':>5s} "
          f"{'test bpp':>8s} {'PSNR':>6s} {'MS-SSIM':>7s}  data")
    for m in models:
        hours = m.get("train_seconds", 0) / 3600
        q, lam = str(m["quality"]), m.get("lambda", 0)
        if m.get("qualities"):  # one variable-rate file: its range of quality ids and lambdas
            q = f"{m['qualities'][0]}-{m['qualities'][-1]}"
            lams = m.get("lambdas") or []
            lam = f"{min(lams):.4g}-{max(lams):.4g}" if lams else lam
        print(f"{m['name']:16s} {m['codec']:11s} {q:>3s} {m.get('arch', ''):22s} {_lam(lam):>7s} "
              f"{m.get('steps', 0):6d} {m.get('device', ''):6s} {hours:5.2f} {m.get('test_bpp', float('nan')):8.4f} "
              f"{m.get('test_psnr_db', float('nan')):6.2f} {m.get('test_ms_ssim', float('nan')):7.4f}  "
              f"{m.get('training_data', '')}")
    if args.verify:
        print(f"{len(models)} files match their sha256")
    return 0
