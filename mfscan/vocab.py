"""The study vocabulary: sides, levels, methods, ROI kinds, their spellings and dtypes.

Every reader of codes (sidecars, CSV tables, ``subjects.csv``, ImageJ ROI names,
the napari widget) normalises through this module, so a spelling accepted in one
place is accepted everywhere and gives the same value.

Sides are the **patient's** sides, always set by the rater (the image's left is
usually the patient's right, but labs differ).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from mfscan.errors import MfscanError

__all__ = [
    "SIDES",
    "LEVELS",
    "METHODS",
    "ROI_KINDS",
    "PROPOSAL_FLAGS",
    "BORDERS",
    "SYMPTOMATIC_SIDES",
    "VIEWS",
    "SIDE_STATUSES",
    "SIDE_SPELLINGS",
    "SIDE_DTYPE",  # noqa: F822  (made on first use, see __getattr__)
    "LEVEL_DTYPE",  # noqa: F822
    "SYMPTOMATIC_DTYPE",  # noqa: F822
    "SIDE_STATUS_DTYPE",  # noqa: F822
    "SIDE_COLORS",
    "SCHEDULER_TIMEOUT_S",
    "SIDE_COLORS_RGB",
    "DEFAULT_MAX_PIXELS",
    "MM_PER_PIXEL_RANGE",
    "SCALE_TOLERANCE_PCT",
    "side_or_none",
    "level_or_none",
    "symptomatic_or_none",
    "normalize_side",
    "normalize_level",
    "normalize_symptomatic",
    "as_side",
    "as_level",
    "as_symptomatic_side",
]

#: The two sides, in output order.
SIDES = ("left", "right")
#: Vertebral levels, cranial to caudal.
LEVELS = ("L1", "L2", "L3", "L4", "L5", "S1")
#: How an outline was made: ``proposed``/``model`` untouched, ``*-edited`` once a rater moved a vertex.
METHODS = ("manual", "proposed", "proposed-edited", "model", "model-edited", "livewire", "imagej")
#: What a ROI is: an area ``outline`` (transverse CSA), or a two-point line: ``thickness``
#: (deep landmark to the muscle's superficial border) or ``fat`` (skin to fascia).
ROI_KINDS = ("outline", "thickness", "fat")
#: Flags of a proposed outline (ROI field ``flags``, measurement column ``proposal_flags``):
#: a proposal's confidence under its floor, an image unlike the model's training images,
#: a side on the other image half than in training (or left/right in the other order), an
#: area outside the training range. Rule: :func:`mfscan.learn.ood.prediction_flags`
#: (model) and :func:`mfscan.assist.propose.propose_outline` (classical, low confidence only).
PROPOSAL_FLAGS = ("low-confidence", "out-of-distribution", "side-position", "implausible-size")
#: Where an outline follows the fascia line: its inner edge (the classical default) or its centre.
BORDERS = ("inner", "centre")
#: Image views; an image without one is a transverse image.
VIEWS = ("transverse", "parasagittal")
#: Side status of a per-side row once ``subjects.csv`` gives each subject's symptomatic side.
SIDE_STATUSES = ("symptomatic", "asymptomatic", "bilateral", "none")
#: Values of ``symptomatic_side`` in ``subjects.csv``.
SYMPTOMATIC_SIDES = ("left", "right", "none", "bilateral")

#: Every accepted spelling of a side, lower case (Latin ``sin``/``dx`` as in ImageJ ROI names).
SIDE_SPELLINGS = {
    "left": "left",
    "l": "left",
    "lt": "left",
    "lft": "left",
    "sin": "left",
    "right": "right",
    "r": "right",
    "rt": "right",
    "rgt": "right",
    "dx": "right",
}

#: Categorical of body sides.
# The categorical dtypes SIDE_DTYPE, LEVEL_DTYPE and SYMPTOMATIC_DTYPE are made on first use
# (module __getattr__ below), so that reading a sidecar does not import pandas; each is one object.
_DTYPE_CATEGORIES = {
    "SIDE_DTYPE": (SIDES, False),  # categorical of body sides
    "LEVEL_DTYPE": (LEVELS, True),  # ordered categorical of vertebral levels, cranial to caudal
    "SYMPTOMATIC_DTYPE": (SYMPTOMATIC_SIDES, False),  # categorical of a subject's symptomatic side
    "SIDE_STATUS_DTYPE": (SIDE_STATUSES, False),  # categorical of a per-side row's side status
}


def _dtype(name: str):
    """One of the categorical dtypes, made once."""
    return globals()[name] if name in globals() else __getattr__(name)


def __getattr__(name: str):
    if name in _DTYPE_CATEGORIES:
        import pandas as pd

        categories, ordered = _DTYPE_CATEGORIES[name]
        globals()[name] = value = pd.CategoricalDtype(list(categories), ordered=ordered)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: One colour per side for every plot, overlay and the canvas (Okabe-Ito, colour-blind safe).
SIDE_COLORS = {"left": "#56B4E9", "right": "#E69F00"}
#: The same colours as (R, G, B) bytes.
SIDE_COLORS_RGB = {k: tuple(int(v[i : i + 2], 16) for i in (1, 3, 5)) for k, v in SIDE_COLORS.items()}

#: Seconds to wait for a Dask scheduler (``--scheduler``) to answer before giving up.
SCHEDULER_TIMEOUT_S = 5.0

#: Images whose header claims more pixels than this are refused before decoding.
DEFAULT_MAX_PIXELS = 200_000_000

#: The plausible pixel size of an ultrasound image, in mm per pixel, inclusive: every
#: calibration (sidecar, DICOM region, PixelSpacing, ImageJ scale, scale line, typed
#: value) outside it is refused by :func:`mfscan.calibration.rule.check_plausible`.
MM_PER_PIXEL_RANGE = (0.005, 5.0)

#: A typed scale further than this (% of the smaller value, on either axis) from the
#: image's own calibration is refused without ``--override-calibration``
#: (:func:`mfscan.calibration.rule.check_typed_scale`).
SCALE_TOLERANCE_PCT = 1.0


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def side_or_none(value) -> str | None:
    """``"left"``/``"right"`` for any accepted spelling, None for anything else."""
    return SIDE_SPELLINGS.get(_text(value).lower())


def level_or_none(value) -> str | None:
    """``"L1"``..``"S1"`` for any case and surrounding space, None for anything else."""
    s = _text(value).upper()
    return s if s in LEVELS else None


def symptomatic_or_none(value) -> str | None:
    """A side, ``"none"`` or ``"bilateral"``; None for anything else."""
    s = _text(value).lower()
    return s if s in ("none", "bilateral") else SIDE_SPELLINGS.get(s)


def _normalize(value, parse, what: str, expected: str, error, where: str, path):
    out = parse(value)
    if out is None:
        raise error(f"{where}unknown {what} {value!r}; expected {expected}", path)
    return out


def normalize_side(value, where: str = "", path=None, *, error=MfscanError) -> str:
    """``"left"``/``"right"`` from any accepted spelling (``L``, ``Lt``, ``RIGHT``).

    Raises ``error`` (an :class:`~mfscan.errors.MfscanError` subclass) naming the value
    otherwise; ``where`` prefixes the message and ``path`` names the file.
    """
    return _normalize(value, side_or_none, "side", "'left' or 'right'", error, where, path)


def normalize_level(value, where: str = "", path=None, *, error=MfscanError) -> str:
    """``"L4"`` from ``"l4"``, ``" L4 "``; raises ``error`` naming the value otherwise."""
    return _normalize(
        value, level_or_none, "vertebral level", "one of " + ", ".join(LEVELS), error, where, path
    )


def normalize_symptomatic(value, where: str = "", path=None, *, error=MfscanError) -> str:
    """A symptomatic side (``left``, ``right``, ``none``, ``bilateral``) from any spelling."""
    return _normalize(
        value,
        symptomatic_or_none,
        "symptomatic_side",
        "one of " + ", ".join(SYMPTOMATIC_SIDES),
        error,
        where,
        path,
    )


def _recode(values, dtype: pd.CategoricalDtype, parse, column: str, what: str) -> pd.Series:
    """Map the (few) distinct values through ``parse`` onto ``dtype``; missing stays missing.

    Blank strings count as missing. Unknown values raise MfscanError naming the
    column, the values and what they should be.
    """
    import pandas as pd

    values = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        uniques = list(values.cat.categories)
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        uniques = list(uniques)
    mapped = [parse(u) for u in uniques]
    bad = sorted({repr(u) for u, m in zip(uniques, mapped) if m is None and _text(u) != ""})
    if bad:
        raise MfscanError(
            f"column {column!r} has value(s) {', '.join(bad[:5])} (unknown {what}); "
            f"expected one of {', '.join(map(str, dtype.categories))}"
        )
    lookup = np.array(
        [-1 if m is None else dtype.categories.get_loc(m) for m in mapped] + [-1], dtype=np.int64
    )
    new = lookup[np.where(codes < 0, len(mapped), codes)]
    return pd.Series(pd.Categorical.from_codes(new, dtype=dtype), index=values.index, name=values.name)


def as_side(values, column: str = "side") -> pd.Series:
    """Sides as the :data:`SIDE_DTYPE` categorical from any accepted spelling.

    Missing and blank values stay missing; unknown values raise
    :class:`~mfscan.errors.MfscanError` naming them.
    """
    return _recode(values, _dtype("SIDE_DTYPE"), side_or_none, column, "side")


def as_level(values, column: str = "level") -> pd.Series:
    """Levels as the ordered :data:`LEVEL_DTYPE` categorical (``"l4"`` is ``L4``).

    Missing and blank values stay missing; unknown values raise
    :class:`~mfscan.errors.MfscanError` naming them.
    """
    return _recode(values, _dtype("LEVEL_DTYPE"), level_or_none, column, "level")


def as_symptomatic_side(values, column: str = "symptomatic_side") -> pd.Series:
    """Symptomatic sides as the :data:`SYMPTOMATIC_DTYPE` categorical from any spelling."""
    return _recode(values, _dtype("SYMPTOMATIC_DTYPE"), symptomatic_or_none, column, "symptomatic_side")


# --------------------------------------------------------------------------- labels


def natural_sort_key(label) -> tuple:
    """Sort key of a visit (or other) label: numbers by value, else natural order.

    Labels that parse as numbers (``"2"``, ``"10"``, ``"1.5"``) sort by value and
    before all other labels. Other labels sort case-insensitively with runs of
    digits compared as numbers, so ``"week4" < "week10"``.

    Parameters
    ----------
    label : object
        The label; converted with ``str``.

    Returns
    -------
    tuple
        A key usable with :func:`sorted`.

    Examples
    --------
    >>> sorted(["10", "2", "1"], key=natural_sort_key)
    ['1', '2', '10']
    >>> sorted(["week10", "week4", "baseline"], key=natural_sort_key)
    ['baseline', 'week4', 'week10']
    """
    text = str(label).strip()
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None and np.isfinite(value):
        return (0, value, (), text)
    parts = tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in re.split(r"(\d+)", text) if p
    )
    return (1, 0.0, parts, text)


def _label_text(value) -> str:
    """A code read as a number (1 or 1.0) back to its label text ("1")."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def as_labels(values) -> pd.Series:
    """Codes (subject, visit, rater, session) as strings; numbers read from CSV
    (``1`` or ``1.0``) become ``"1"``. Missing values stay missing."""
    import pandas as pd

    s = pd.Series(values)
    if pd.api.types.is_string_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        return s
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    text = np.array([_label_text(u) for u in uniques] + [None], dtype=object)
    out = text[np.where(codes < 0, len(uniques), codes)]
    return pd.Series(out, index=s.index, name=s.name, dtype="string")
