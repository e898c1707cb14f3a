"""``mfscan train`` and ``mfscan predict``: a segmentation model from the lab's own outlines.

Both need the optional extra ``mfscan[learn]`` (PyTorch); without it they stop
with the install hint. Predictions are merged into the rater's sidecar by THE
merge rule (:func:`mfscan.annotations.merge.merge_rois`, as ``propose``) with
method ``model``, the model id (ROI field ``model``) and the ``proposal``
bookkeeping.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from mfscan.cli._common import _say, add_parser, add_typed_scale_options
from mfscan.errors import MfscanError

__all__ = ["cmd_train", "cmd_predict", "predict_image", "register"]

NO_SCALE = (
    "the image has no calibration (no DICOM region or pixel spacing, no ImageJ scale, no scale "
    "line or manual calibration in any sidecar of the image); a model works at a physical scale: "
    "draw a scale line in the napari widget or run mfscan propose --mm-per-pixel first"
)


def cmd_train(args) -> int:
    from mfscan.learn._torch import require_torch
    from mfscan.learn.train import train

    require_torch()
    card, skipped = train(
        args.study,
        args.output,
        mm_per_pixel=args.mm_per_pixel,
        epochs=args.epochs,
        val_fraction=args.val_fraction,
        seed=args.seed,
        force=args.force,
        progress=not args.no_progress,
        patience=args.patience,
        threads=args.threads,
        allow_missing_subjects=args.allow_missing_subjects,
        border=args.border,
    )
    for s in skipped:
        _say(f"  skipped {s['path']}: {s['reason']}", err=True)
    for w in card["warnings"]:
        _say(f"  warning: {w}", err=True)
    data, val, tr = card["data"], card["validation"], card["training"]
    _say(
        f"trained model {card['model_id']} on {data['n_train_images']} image(s) "
        f"({data['n_train']} tracing(s)) of "
        f"{len(card['subjects']['train'])} subject(s) -> {Path(args.output)}"
    )
    if val["dice"] is None:
        _say("  no validation subjects: no validation Dice (give more subjects or --val-fraction)")
    else:
        _say(
            f"  validation ({data['n_val_images']} image(s), {len(card['subjects']['val'])} subject(s)): "
            f"Dice {val['dice']:.3f}, median |CSA error| {val['csa_error_pct_median']:.1f} %"
        )
    _say(f"  epochs {tr['epochs_run']} (best {tr['best_epoch']}), {tr['seconds']:.0f} s")
    _say("  a model is only as good as the agreement figures on your own images show (research use only)")
    return 0


def _rois(model, img, frame_index: int, override, seeds, image_path):
    """The predicted ROIs of one frame and their printed lines."""
    from mfscan.annotations import ROI
    from mfscan.annotations.merge import proposal_extra
    from mfscan.calibration import image_calibration, roi_calibration
    from mfscan.learn.predict import predict_outlines

    cal = image_calibration(img, override)
    if seeds:
        cal = roi_calibration([next(iter(seeds.values()))], img, override)
    if not cal.calibrated:
        raise MfscanError(NO_SCALE, image_path)
    found = predict_outlines(model, img.gray[frame_index], spacing=(cal.row_mm, cal.col_mm), seeds=seeds)
    rois, lines = [], []
    for side in sorted(found):
        o = found[side]
        rc = roi_calibration(o.points, img, override)
        extra = {"model": o.model_id, "confidence": o.confidence}
        if o.ood_score is not None:
            extra["ood_score"] = round(o.ood_score, 3)
        if o.flags:
            extra["flags"] = list(o.flags)
        extra["proposal"] = proposal_extra(o.points, "model", o.model_id, flags=o.flags)
        rois.append(
            ROI(
                side,
                o.points,
                frame=frame_index if img.n_frames > 1 else None,
                region=rc.region if rc.source == "dicom-region" else None,
                method="model",
                extra=extra,
            )
        )
        ood = "" if o.ood_score is None else f", OOD score {o.ood_score:.2f}"
        flag = f"  FLAGGED {', '.join(o.flags)}: check this outline" if o.flags else ""
        lines.append(f"  {side}: {len(o.points)} vertices, confidence {o.confidence:.2f}{ood}{flag}")
    missing = [s for s in (seeds or ("left", "right")) if s not in found]
    lines += [f"  {s}: no muscle found" + (" under the seed" if seeds else "") for s in missing]
    return rois, lines


def predict_image(
    model,
    image_path,
    *,
    rater=None,
    seeds=None,
    frame: int = 0,
    force: bool = False,
    mm_per_pixel=None,
    override_calibration: bool = False,
):
    """Predict one image's outlines and merge them into the rater's sidecar; returns printed lines.

    ``mm_per_pixel`` (``(row_mm, col_mm)``) is a typed scale, taken and stored exactly as
    ``mfscan propose --mm-per-pixel`` takes it (:func:`mfscan.calibration.sidecar_override`:
    checked against the image's own DICOM/ImageJ scale unless ``override_calibration``).
    """
    from mfscan.annotations import Annotation, write_sidecar
    from mfscan.annotations.merge import merge_rois, proposable, target_sidecar
    from mfscan.cli._common import merge_scale_override
    from mfscan.io.images import load_image

    image_path = Path(image_path)
    img = load_image(image_path)
    if not (0 <= frame < img.n_frames):
        raise MfscanError(f"frame {frame} does not exist (the image has {img.n_frames})", image_path)
    out, ann = target_sidecar(image_path, rater)
    if ann is not None and ann.rater is not None and rater is not None and ann.rater != rater:
        raise MfscanError(f"the sidecar's rater is {ann.rater!r}, not {rater!r}; not merged", out)
    override = merge_scale_override(  # the one decision, as mfscan propose makes it
        image_path,
        img,
        ann,
        out,
        rater=rater,
        mm_per_pixel=mm_per_pixel,
        override_calibration=override_calibration,
        force=force,
        points=list((seeds or {}).values()) or None,
    )
    rois, lines = _rois(model, img, frame, override, seeds, image_path)
    rois, kept = proposable(ann, rois, frame=frame, force=force)  # a traced side is kept
    lines += [f"  {n}" for n in kept]
    lines += _border_note(model, image_path)
    if not rois:
        return [f"{image_path.name}: nothing written"] + lines
    base = ann if ann is not None else Annotation(image=image_path.name, rater=rater)
    merged = merge_rois(base, rois, frame=frame, force=force)
    if mm_per_pixel:
        merged.calibration = override  # stored as propose stores it (a manual calibration)
    write_sidecar(out, merged)
    verb = "merged" if ann is not None else "predicted"
    return [f"{verb} {len(rois)} outline(s) on {image_path.name} -> {out}"] + lines


def _border_note(model, image_path) -> list[str]:
    """A note when the model learnt another tracing convention than the image's study uses."""
    from mfscan.annotations import study_border

    learnt, study = model.card.get("border"), study_border(image_path)
    if learnt in (None, study):
        return []
    return [
        f"  note: model {model.model_id} learnt outlines on the {learnt} border of the fascia line, "
        f"this study traces the {study} border: expect a systematic CSA difference "
        "(mfscan agreement --between method shows it)"
    ]


def _images(paths):
    from mfscan.measure.discover import discover

    jobs, errors = discover([Path(p) for p in paths], include_unannotated=True)
    return [j.image for j in jobs], errors


def cmd_predict(args) -> int:
    from mfscan.learn._torch import require_torch, torch_threads
    from mfscan.learn.predict import load_model

    require_torch()
    sides = [s for s, _ in args.seed or []]
    if len(set(sides)) != len(sides):
        raise MfscanError(f"one seed per side, got {', '.join(sides)}")
    model = load_model(args.model_dir)
    images, errors = _images(args.paths)
    if not images:
        raise MfscanError("no images found in " + ", ".join(map(str, args.paths)))
    failed = 0
    for e in errors:  # e.g. a sidecar without its image: reported, not a failure of the prediction
        _say(f"  note: {e['path']}: {e['reason']}", err=True)
    seeds = dict(args.seed) if args.seed else None
    with torch_threads(args.threads):
        for path in images:
            try:
                lines = predict_image(
                    model,
                    path,
                    rater=args.rater,
                    seeds=seeds,
                    frame=args.frame,
                    force=args.force,
                    mm_per_pixel=args.mm_per_pixel,
                    override_calibration=args.override_calibration,
                )
            except MfscanError as e:
                failed += 1
                _say(f"  {e}", err=True)
                continue
            for ln in lines:
                _say(ln)
    if model.card.get("ood") is None:
        _say(
            f"  note: model {model.model_id} was trained before mfscan recorded its training images' "
            "statistics: no out-of-distribution check (retrain it to get one)",
            err=True,
        )
    _say(f"model {model.model_id}: proposals are a starting point; edits are recorded as 'model-edited'")
    return 1 if failed else 0


THREADS_HELP = (
    "CPU threads for torch (default: torch's, usually one per core); on a busy or small "
    "machine 1 is often much faster than 2"
)


def _threads(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 256:
        raise argparse.ArgumentTypeError(f"--threads must be a whole number from 1 to 256, got {text!r}")
    return n


def register(sub) -> None:
    """Add ``train`` and ``predict`` to the ``mfscan`` parser's subparsers."""
    from mfscan.cli.propose import parse_seed
    from mfscan.vocab import BORDERS

    t = add_parser(
        sub,
        "train",
        "train a multifidus segmentation model on the study's outlines (needs mfscan[learn])",
        textwrap.dedent("""\
            Train a compact U-Net (3 classes: background, patient's left, patient's right
            multifidus) on the traced images of one or more studies, on this machine.
            Images and masks come from the sidecars through the mask export (the same pixel
            rule as mfscan measure and export-masks); each is resampled to --mm-per-pixel so a
            model works across depth settings; images without a calibration are skipped.
            Validation subjects are held out whole (never one subject in both sets); the best
            epoch by validation Dice is kept (early stopping). Writes MODEL_DIR/weights.pt and
            MODEL_DIR/model.json (the model card: images (count, pixel hashes), tracings,
            raters and sessions, subjects, scale, tracing border, crop, batch size, learning
            rate, patience, augmentation, epochs, validation Dice and median |CSA error| in %,
            the training images' reference for the out-of-distribution flag, date, software
            versions, model id = the first 12 hex digits of the SHA-256 of weights.pt).
            Tracings without a subject code are refused (the split is by subject) unless
            --allow-missing-subjects. Never commit or share weights trained on
            patient images without approval. Needs PyTorch: pip install "mfscan[learn]".
            Example: mfscan train study/ -o models/m1 --epochs 40"""),
        cmd_train,
    )
    t.add_argument("study", nargs="+", metavar="STUDY", help="study folders, images or sidecars")
    t.add_argument("-o", "--output", required=True, metavar="MODEL_DIR", help="folder for the model")
    t.add_argument(
        "--mm-per-pixel",
        type=float,
        default=0.6,
        metavar="MM",
        help="scale the model works at, mm per pixel (default: %(default)s)",
    )
    t.add_argument("--epochs", type=int, default=40, metavar="N", help="most epochs (default: %(default)s)")
    t.add_argument(
        "--patience",
        type=int,
        default=8,
        metavar="N",
        help="stop after N epochs without a better validation Dice (default: %(default)s)",
    )
    t.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="share of subjects held out for validation (default: %(default)s)",
    )
    t.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: %(default)s)")
    t.add_argument("--force", action="store_true", help="replace a model already in MODEL_DIR")
    t.add_argument(
        "--allow-missing-subjects",
        action="store_true",
        help="train on tracings without a subject code, split image by image (refused by default: "
        "one subject's images could fall in both training and validation)",
    )
    t.add_argument(
        "--border",
        choices=list(BORDERS),
        help="tracing convention of the outlines, recorded in the model card (default: the study's "
        "border setting in mfscan.study.json, else inner)",
    )
    t.add_argument("--threads", type=_threads, metavar="N", help=THREADS_HELP)
    t.add_argument("--no-progress", action="store_true", help="do not show the progress bar")

    p = add_parser(
        sub,
        "predict",
        "propose outlines with a trained model (needs mfscan[learn])",
        textwrap.dedent("""\
            Propose multifidus outlines with a model from mfscan train, and merge them into each
            image's rater sidecar with method "model", the model id (ROI field "model"), a
            confidence (0-1, mean probability inside) and the proposal bookkeeping. Merging is
            propose's: only the predicted sides' outlines are replaced, and only with --force when
            they exist; codes, calibration and other outlines are kept.
            Without --seed both sides are proposed (the larger connected region of each class);
            with --seed only the seeded sides, each the region under its seed, with the side given
            (the rater's, never inferred). The image needs a calibration (DICOM, ImageJ, a
            scale line / manual calibration in the rater's sidecar, or in any other sidecar of the
            image when they agree within 1%, or --mm-per-pixel).
            Each outline is scored against the training images' reference in the model card:
            a low confidence, an image or shape unlike the training set (out of distribution),
            a side on the other image half than in training, or an implausible area is flagged
            (ROI field "flags", also in its proposal record and mfscan measure's
            proposal_flags column) and printed as FLAGGED: check those outlines first.
            Example: mfscan predict models/m1 new_scans/ --rater R1"""),
        cmd_predict,
    )
    p.add_argument("model_dir", metavar="MODEL_DIR")
    p.add_argument("paths", nargs="+", metavar="PATH", help="images or folders of images")
    p.add_argument(
        "--seed",
        action="append",
        type=parse_seed,
        metavar="SIDE:ROW,COL",
        help="a point inside the muscle, e.g. left:120,480 (repeat for each side)",
    )
    p.add_argument("--rater", help="rater code: writes <image stem>.<rater>.mfscan.json")
    p.add_argument("--frame", type=int, default=0, metavar="N", help="frame of a cine image (default: 0)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace existing outlines of the predicted sides (and the sidecar's calibration with "
        "--mm-per-pixel); nothing else is dropped",
    )
    add_typed_scale_options(
        p,
        "pixel size in mm, taken as mfscan propose takes it (stored in the sidecar as a manual "
        "calibration; refused when more than 1%% from the image's own DICOM/ImageJ scale unless "
        "--override-calibration)",
    )
    p.add_argument("--threads", type=_threads, metavar="N", help=THREADS_HELP)
