"""Training: the loop (:func:`train_model`) and the study-to-model-folder pipeline (:func:`train`).

The global state of the process is left as it was: torch's random state is
forked and restored (:func:`torch.random.fork_rng`), the thread count is
restored after (:func:`mfscan.learn._torch.torch_threads`), augmentation draws
from a local :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mfscan.errors import MfscanError
from mfscan.learn._torch import pick_device, require_torch, torch_threads
from mfscan.learn.augment import augment, random_params
from mfscan.learn.card import (
    WEIGHTS_NAME,
    augmentation_record,
    data_record,
    model_id,
    software_versions,
    subjects_table,
    write_card,
)
from mfscan.learn.dataset import DEFAULT_MM_PER_PIXEL, build_dataset, split_by_subject

__all__ = ["TrainResult", "train_model", "train", "evaluate", "DEFAULT_CHANNELS"]

#: Channels of the compact U-Net per level (finest first); 3 poolings.
DEFAULT_CHANNELS = (8, 16, 32, 64)
IGNORE = 255
#: Share of the training windows centred near a muscle pixel.
NEAR_MUSCLE = 0.8


@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes
    ----------
    net : torch.nn.Module
        The network with the best validation Dice (eval mode, on the CPU).
    history : list of dict
        Per epoch: ``epoch, loss, val_dice, val_csa_error_pct, seconds``.
    best_epoch : int
        The epoch whose weights were kept (1-based).
    stopped_early : bool
    settings : dict
        The settings used (the window after clipping to the largest image): ``crop``,
        ``batch_size``, ``steps_per_epoch``, ``lr``, ``weight_decay``, ``patience``,
        ``channels``, ``near_muscle_share``.
    """

    net: object
    history: list = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    settings: dict = field(default_factory=dict)


def _crop(image, labels, crop, rng):
    """A random ``crop`` (rows, cols) window, padded (image 0, labels unknown) when the image is smaller."""
    rows, cols = crop
    pr, pc = max(0, rows - image.shape[0]), max(0, cols - image.shape[1])
    if pr or pc:
        image = np.pad(image, ((0, pr), (0, pc)))
        labels = np.pad(labels, ((0, pr), (0, pc)), constant_values=IGNORE)
    r0 = int(rng.integers(0, image.shape[0] - rows + 1))
    c0 = int(rng.integers(0, image.shape[1] - cols + 1))
    return image[r0 : r0 + rows, c0 : c0 + cols], labels[r0 : r0 + rows, c0 : c0 + cols]


def _crop_near_muscle(image, labels, crop, rng):
    """A ``crop`` window whose centre is a random muscle pixel (shifted by up to a quarter window)."""
    rr, cc = np.nonzero((labels == 1) | (labels == 2))
    if rr.size == 0:
        return _crop(image, labels, crop, rng)
    j = int(rng.integers(0, rr.size))
    rows, cols = crop
    r0 = rr[j] - rows // 2 + int(rng.integers(-rows // 4, rows // 4 + 1))
    c0 = cc[j] - cols // 2 + int(rng.integers(-cols // 4, cols // 4 + 1))
    pad = ((rows, rows), (cols, cols))
    image = np.pad(image, pad)
    labels = np.pad(labels, pad, constant_values=IGNORE)
    r0 = int(np.clip(r0 + rows, 0, image.shape[0] - rows))
    c0 = int(np.clip(c0 + cols, 0, image.shape[1] - cols))
    return image[r0 : r0 + rows, c0 : c0 + cols], labels[r0 : r0 + rows, c0 : c0 + cols]


def _batch(samples, idx, crop, rng, torch, near_muscle: float = NEAR_MUSCLE):
    imgs, labs = [], []
    for i in idx:
        s = samples[i]
        img, lab = augment(s.image, s.labels, random_params(rng), rng)
        if rng.random() < near_muscle:
            img, lab = _crop_near_muscle(img, lab, crop, rng)
        else:
            img, lab = _crop(img, lab, crop, rng)
        imgs.append(img)
        labs.append(lab)
    x = torch.from_numpy(np.stack(imgs)[:, None].astype(np.float32))
    y = torch.from_numpy(np.stack(labs).astype(np.int64))
    return x, y


def _loss(logits, y, torch):
    """Cross-entropy plus soft Dice of the two muscles, both over known pixels only."""
    f = torch.nn.functional
    ce = f.cross_entropy(logits, y, ignore_index=IGNORE)
    known = (y != IGNORE).unsqueeze(1).float()
    prob = torch.softmax(logits, dim=1) * known
    onehot = f.one_hot(torch.where(y == IGNORE, 0, y), logits.shape[1]).permute(0, 3, 1, 2).float() * known
    inter = (prob[:, 1:] * onehot[:, 1:]).sum(dim=(0, 2, 3))
    denom = prob[:, 1:].sum(dim=(0, 2, 3)) + onehot[:, 1:].sum(dim=(0, 2, 3))
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return ce + (1 - dice).mean()


def _pad_to(x: np.ndarray, k: int) -> np.ndarray:
    rows, cols = x.shape
    return np.pad(x, ((0, -rows % k), (0, -cols % k)))


def logits_at_model_scale(net, image: np.ndarray, k: int, device: str = "cpu", *, embedding: bool = False):
    """Class probabilities ``(3, rows, cols)`` (numpy float32) of one image at the model's scale.

    With ``embedding``, also the bottleneck activations averaged over the image (one value
    per bottleneck channel, float64): the network's own summary of the image, compared with
    the training images' by :mod:`mfscan.learn.ood`.
    """
    torch = require_torch()
    x = torch.from_numpy(_pad_to(image, k)[None, None].astype(np.float32)).to(device)
    seen = []
    hook = None
    if embedding:
        hook = net.down[-1].register_forward_hook(lambda _m, _i, out: seen.append(out.mean(dim=(2, 3))[0]))
    try:
        with torch.no_grad():
            p = torch.softmax(net(x), dim=1)[0, :, : image.shape[0], : image.shape[1]]
    finally:
        if hook is not None:
            hook.remove()
    p = p.cpu().numpy()
    return (p, seen[0].cpu().numpy().astype(float)) if embedding else p


def evaluate(net, samples, k: int, device: str = "cpu") -> tuple[float, float]:
    """Mean Dice of both muscles and median |CSA error| (%) over ``samples`` (known pixels only).

    Dice per image and side ``2|P & T| / (|P| + |T|)`` with P the pixels whose
    most probable class is that side; CSA error ``(|P| - |T|) / |T| x 100``.
    """
    net.eval()
    dices, errors = [], []
    for s in samples:
        pred = np.argmax(logits_at_model_scale(net, s.image, k, device), axis=0)
        known = s.labels != IGNORE
        for cls in (1, 2):
            t = (s.labels == cls) & known
            p = (pred == cls) & known
            if not t.any():
                continue
            dices.append(2 * np.count_nonzero(p & t) / (np.count_nonzero(p) + np.count_nonzero(t)))
            errors.append(abs(np.count_nonzero(p) - np.count_nonzero(t)) / np.count_nonzero(t) * 100)
    if not dices:
        return math.nan, math.nan
    return float(np.mean(dices)), float(np.median(errors))


def train_model(
    train_samples,
    val_samples,
    *,
    epochs: int = 40,
    patience: int = 8,
    seed: int = 0,
    channels=DEFAULT_CHANNELS,
    crop=(128, 160),
    batch_size: int = 8,
    steps_per_epoch: int | None = None,
    lr: float = 5e-3,
    weight_decay: float = 1e-4,
    threads: int | None = None,
    device: str | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train the compact U-Net on samples at the model's scale.

    Parameters
    ----------
    train_samples, val_samples : list of Sample
        From :func:`mfscan.learn.dataset.split_by_subject`; without validation
        samples the last epoch is kept and the validation figures are NaN.
    epochs : int, keyword-only
        Largest number of epochs; an epoch draws ``steps_per_epoch`` batches
        (default: enough for each training image to appear about twice).
    patience : int, keyword-only
        Stop when the validation Dice has not improved for this many epochs.
    seed : int, keyword-only
        Seeds the weights' initialisation and the augmentation (the process's random
        state is restored afterwards).
    channels, crop, batch_size, lr : keyword-only
        Network width per level, training window (rows, cols) in pixels (80 % of the
        windows are centred near a muscle pixel, the rest anywhere), batch size,
        the peak learning rate of AdamW's one-cycle schedule (warm-up over the first
        20 % of the steps, cosine decay after).
    weight_decay : float, keyword-only
        AdamW's decoupled weight decay.
    threads : int, optional, keyword-only
        Torch threads during training (restored after); default torch's.
    device : str, optional, keyword-only
        ``"cpu"``, ``"cuda"``...; default a GPU when available.
    progress : bool, keyword-only
        A tqdm bar on stderr with the loss and the validation Dice of each epoch.
    """
    torch = require_torch()
    from tqdm.auto import tqdm

    from mfscan.learn.unet import UNet, multiple_of

    if not train_samples:
        raise MfscanError("no training images: trace (or accept proposals on) some images first")
    device = pick_device(device)
    k = multiple_of(channels)
    biggest = [max(s.image.shape[i] for s in train_samples) for i in (0, 1)]
    crop = tuple(min(int(crop[i]), -(-biggest[i] // k) * k) for i in (0, 1))  # no window larger than needed
    steps = steps_per_epoch or max(1, math.ceil(2 * len(train_samples) / batch_size))
    rng = np.random.default_rng(seed)
    result = TrainResult(net=None)
    result.settings = {
        "crop": list(crop),
        "batch_size": batch_size,
        "steps_per_epoch": steps,
        "lr": lr,
        "weight_decay": weight_decay,
        "patience": patience,
        "channels": list(channels),
        "near_muscle_share": NEAR_MUSCLE,
    }
    with torch_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = UNet(channels).to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.2, div_factor=10, final_div_factor=100
        )
        best, best_state, stale = -1.0, None, 0
        bar = tqdm(range(1, epochs + 1), desc="training", unit="epoch", disable=not progress, leave=False)
        for epoch in bar:
            t0, net_loss = time.perf_counter(), 0.0
            net.train()
            for _ in range(steps):
                idx = rng.integers(0, len(train_samples), batch_size)
                x, y = _batch(train_samples, idx, crop, rng, torch)
                opt.zero_grad()
                loss = _loss(net(x.to(device)), y.to(device), torch)
                loss.backward()
                opt.step()
                sched.step()
                net_loss += float(loss.detach()) / steps
            dice, csa = evaluate(net, val_samples, k, device) if val_samples else (math.nan, math.nan)
            result.history.append(
                {
                    "epoch": epoch,
                    "loss": round(net_loss, 4),
                    "val_dice": dice,
                    "val_csa_error_pct": csa,
                    "seconds": round(time.perf_counter() - t0, 2),
                }
            )
            bar.set_postfix(loss=f"{net_loss:.3f}", val_dice=f"{dice:.3f}")
            score = dice if not math.isnan(dice) else epoch  # no validation: keep the last
            if score > best:
                best, stale, result.best_epoch = score, 0, epoch
                best_state = {n: v.detach().cpu().clone() for n, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= patience:
                    result.stopped_early = True
                    break
        bar.close()
    net = net.cpu()
    net.load_state_dict(best_state)
    result.net = net.eval()
    return result


def weights_bytes(net) -> bytes:
    """The serialised weights (``{"channels", "state_dict"}``) as ``weights.pt`` holds them."""
    torch = require_torch()
    buf = io.BytesIO()
    torch.save({"channels": list(net.channels), "state_dict": net.state_dict()}, buf)
    return buf.getvalue()


def save_model(out_dir, result: TrainResult, card: dict) -> dict:
    """Write ``weights.pt`` and ``model.json`` into ``out_dir``; returns the card (with ``model_id``)."""
    from mfscan.io.files import atomic_write_bytes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = weights_bytes(result.net)
    atomic_write_bytes(out / WEIGHTS_NAME, data)
    card = {"model_id": model_id(data), **card}
    write_card(out, card)
    return card


def _missing_subjects(samples, val_fraction: float, allow: bool) -> list[str]:
    """Warnings about tracings without a subject code; refused when a split would leak subjects."""
    missing = sorted({s.source for s in samples if not s.subject_given})
    if not missing:
        return []
    names = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    if val_fraction > 0 and not allow:
        raise MfscanError(
            f"{len(missing)} tracing(s) have no subject code ({names}): the validation split is made "
            "by subject, and without codes two images of one subject could fall on both sides (a "
            "validation Dice that flatters the model). Set the subject codes (napari widget, or a "
            "naming pattern in mfscan.study.json), or give --allow-missing-subjects to split those "
            "images one by one (recorded in the model card)"
        )
    return [
        f"{len(missing)} tracing(s) without a subject code, split image by image (the same pixels kept together): {names}"
    ]


def _reference(net, train_s, val_s, k: int) -> dict:
    """The card's ``ood`` entry (:func:`mfscan.learn.ood.fit_reference`) from the trained network."""
    from mfscan.learn.ood import fit_reference, intensity_features, shape_features
    from mfscan.learn.predict import component

    def feats(samples):
        inten, emb, conf, shapes = [], [], [], []
        for s in samples:
            p, e = logits_at_model_scale(net, s.image, k, embedding=True)
            inten.append(intensity_features(s.image))
            emb.append(e)
            best = np.argmax(p, axis=0)
            for cls in (1, 2):
                if not np.any(s.labels == cls):
                    continue
                shapes.append(shape_features(s.labels == cls, s.spacing))
                comp = component(best == cls)
                if comp is not None:
                    conf.append(float(np.mean(p[cls][comp])))
        return inten, emb, conf, shapes

    ti, te, _, ts = feats(train_s)
    vi, ve, vc, vs = feats(val_s) if val_s else (None, None, [], [])
    px_cm2 = train_s[0].spacing[0] * train_s[0].spacing[1] / 100.0
    csa = [np.count_nonzero(s.labels == c) * px_cm2 for s in train_s for c in (1, 2)]
    return fit_reference(
        ti,
        te,
        vi,
        ve,
        train_shapes=ts,
        val_shapes=vs,
        csa_cm2=csa,
        val_confidences=vc,
        labels=[s.labels for s in train_s],
    )


def train(
    paths,
    out_dir,
    *,
    mm_per_pixel: float = DEFAULT_MM_PER_PIXEL,
    epochs: int = 40,
    val_fraction: float = 0.2,
    seed: int = 0,
    force: bool = False,
    progress: bool = False,
    allow_missing_subjects: bool = False,
    border: str | None = None,
    **kwargs,
) -> tuple[dict, list]:
    """Train a model on the traced images of studies and write it to ``out_dir``.

    Parameters
    ----------
    paths : iterable of str or Path
        Study folders, images or sidecars.
    out_dir : str or Path
        The model folder: ``weights.pt`` and ``model.json`` are written there;
        existing ones are replaced only with ``force``.
    mm_per_pixel, epochs, val_fraction, seed : keyword-only
        See :func:`mfscan.learn.dataset.build_dataset`,
        :func:`mfscan.learn.dataset.split_by_subject` and :func:`train_model`.
    allow_missing_subjects : bool, keyword-only
        Tracings without a subject code are refused when there is a validation split
        (their images could put one subject on both sides); with this they are split
        image by image and the card's ``warnings`` say so.
    border : {"inner", "centre"}, optional, keyword-only
        The tracing convention of the outlines (recorded in the card); default the
        training studies' ``border`` setting (:func:`mfscan.annotations.study_border`).
    **kwargs
        Passed to :func:`train_model` (``patience``, ``threads``, ``device``...).

    Returns
    -------
    card : dict
        The model card as written.
    skipped : list of dict
        ``{"path", "reason"}`` of every image or tracing left out.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MfscanError("is a file; give a folder for the model", out)
    if (out / WEIGHTS_NAME).exists() and not force:
        raise MfscanError("already holds a model; give another folder or --force to replace it", out)
    t0 = time.perf_counter()
    samples, skipped = build_dataset(paths, mm_per_pixel=mm_per_pixel, progress=progress)
    if not samples:
        reasons = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:3])
        raise MfscanError("no calibrated traced images to train on" + (f" ({reasons})" if reasons else ""))
    warnings = _missing_subjects(samples, val_fraction, allow_missing_subjects)
    train_s, val_s = split_by_subject(samples, val_fraction=val_fraction, seed=seed)
    res = train_model(train_s, val_s, epochs=epochs, seed=seed, progress=progress, **kwargs)
    best = res.history[res.best_epoch - 1]
    from mfscan.learn.unet import multiple_of

    card = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": {
            "name": "unet",
            "channels": list(res.net.channels),
            "classes": ["background", "left", "right"],
        },
        "mm_per_pixel": mm_per_pixel,
        "input": "grey frame / dtype maximum (uint8: 255), resampled to mm_per_pixel",
        "border": border or _study_border(paths),
        "data": data_record(paths, samples, train_s, val_s, skipped),
        "subjects": {"train": subjects_table(train_s), "val": subjects_table(val_s)},
        "training": {
            "epochs_run": len(res.history),
            "epochs_max": epochs,
            "best_epoch": res.best_epoch,
            "stopped_early": res.stopped_early,
            "seed": seed,
            "val_fraction": val_fraction,
            **res.settings,
            "augmentation": augmentation_record(),
            "seconds": round(time.perf_counter() - t0, 1),
            "history": [
                {k: _finite(v) if isinstance(v, float) else v for k, v in h.items()} for h in res.history
            ],
        },
        "validation": {
            "dice": _finite(best["val_dice"]),
            "csa_error_pct_median": _finite(best["val_csa_error_pct"]),
        },
        "ood": _reference(res.net, train_s, val_s, multiple_of(res.net.channels)),
        "warnings": warnings,
        "software": software_versions(),
        "intended_use": "research use only; proposals to be checked and corrected by a rater",
    }
    return save_model(out, res, card), skipped


def _study_border(paths) -> str:
    """The ``border`` setting shared by the studies of ``paths`` ("mixed" when they differ)."""
    from mfscan.annotations.study_file import study_border

    found = {study_border(p) for p in paths}
    return found.pop() if len(found) == 1 else "mixed"


def _finite(v):
    return None if v is None or not math.isfinite(v) else round(float(v), 4)
