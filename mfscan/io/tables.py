"""Reading and writing the tidy tables mfscan exports (CSV), with their dtypes.

Codes such as visit "01" or subject "007" stay strings; side and level come back
as categoricals; every file is written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from mfscan.annotations import LEVELS, SIDES, atomic_write_bytes

STRING_COLUMNS = ("image", "sidecar", "subject", "visit", "session", "rater", "method",
                  "calibration", "group", "symptomatic_side", "smaller_side", "path",
                  "reason", "missing_reason")

SIDE_DTYPE = pd.CategoricalDtype(list(SIDES))
LEVEL_DTYPE = pd.CategoricalDtype(list(LEVELS), ordered=True)


SIDE_ALIASES = {"l": "left", "lt": "left", "r": "right", "rt": "right"}


def _categorical(values: pd.Series, dtype, name: str, aliases=None, case=str.lower):
    """Strip, fold case and aliases; refuse values outside the categories, naming them."""
    s = values.astype("string").str.strip()
    s = s.str.lower() if case is str.lower else s.str.upper()
    if aliases:
        s = s.replace(aliases)
    bad = s.notna() & (s != "") & ~s.isin(list(dtype.categories))
    if bad.any():
        from mfscan.errors import MfscanError
        shown = ", ".join(repr(v) for v in pd.unique(values[bad].astype("string"))[:5])
        raise MfscanError(f"column {name!r} has value(s) {shown}; expected one of "
                          f"{', '.join(dtype.categories)}")
    return s.mask(s == "").astype(dtype)


def set_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Side and level as categoricals, codes as strings (a new frame).

    Common spellings are accepted (``L``, ``Right``, `` l4``); other values raise
    MfscanError naming them.
    """
    df = df.copy()
    if "side" in df:
        df["side"] = _categorical(df["side"], SIDE_DTYPE, "side", SIDE_ALIASES)
    if "level" in df:
        df["level"] = _categorical(df["level"], LEVEL_DTYPE, "level", case=str.upper)
    for c in STRING_COLUMNS:
        if c in df and df[c].dtype != "string":
            df[c] = df[c].astype("string")
    return df


def read_table(path) -> pd.DataFrame:
    """Read a CSV written by mfscan (or by hand), keeping codes as strings."""
    path = Path(path)
    from mfscan.errors import MfscanError
    try:
        head = pd.read_csv(path, nrows=0)
    except FileNotFoundError:
        raise MfscanError("file not found", path) from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise MfscanError(f"not a readable CSV table ({e})", path) from None
    dtypes = {c: "string" for c in head.columns if c in STRING_COLUMNS}
    try:
        df = pd.read_csv(path, dtype=dtypes, keep_default_na=True)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as e:
        raise MfscanError(f"not a readable CSV table ({e})", path) from None
    try:
        return set_dtypes(df)
    except MfscanError as e:
        raise MfscanError(e.message, path) from None


def _refuse_source(path: Path) -> None:
    """Never write a table over an image or a sidecar (a mistyped ``-o``)."""
    from mfscan.annotations import is_sidecar
    from mfscan.errors import MfscanError
    from mfscan.io.images import SUPPORTED_SUFFIXES, is_supported

    if is_sidecar(path) or path.suffix.lower() in SUPPORTED_SUFFIXES or (path.is_file() and is_supported(path)):
        raise MfscanError("refusing to write a table over an image or a sidecar; "
                          "give the output a .csv name", path)


def check_output(path) -> Path:
    """Raise MfscanError now if a table could not be written to `path` later."""
    path = Path(path)
    _refuse_source(path)
    if path.is_dir():
        from mfscan.errors import MfscanError
        raise MfscanError("is a folder; give a .csv file name", path)
    return path


def write_table(df: pd.DataFrame, path, *, float_format: str | None = "%.10g") -> Path:
    """Write a DataFrame as CSV atomically (no index column; 10 significant digits).

    The folder is created when missing. Raises MfscanError (naming the file) when
    the table cannot be written, or when `path` is an image or a sidecar.
    """
    from mfscan.errors import MfscanError

    path = Path(path)
    _refuse_source(path)
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format=float_format, lineterminator="\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    except OSError as e:
        raise MfscanError(f"cannot write the table ({e.strerror or e})", path) from None
    return path
