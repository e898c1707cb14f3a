"""Reading and writing the tidy tables mfscan exports (CSV), with their dtypes.

Codes such as visit "01" or subject "007" stay strings; side and level come back
as categoricals; every file is written atomically.

Every table goes out through :func:`write_table`, which neutralises text cells a
spreadsheet would run as a formula (:func:`csv_safe_text`, OWASP's advice for CSV
injection); :func:`read_table` takes the added quote off again.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from mfscan import vocab
from mfscan.errors import MfscanError
from mfscan.io.files import atomic_write_bytes

STRING_COLUMNS = (
    "image",
    "sidecar",
    "subject",
    "visit",
    "session",
    "rater",
    "method",
    "calibration",
    "visit_date",
    "kind",
    "view",
    "task",
    "posture",
    "fat_source",
    "echo_correction",
    "echo_correction_status",
    "group",
    "symptomatic_side",
    "smaller_side",
    "path",
    "reason",
    "missing_reason",
)


#: First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a
#: text cell as a formula: OWASP's list for CSV injection.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_text(value):
    """`value` as a CSV cell no spreadsheet runs as a formula.

    A text value starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading ``'`` (OWASP); other text and every non-text value
    (numbers, including negative ones, missing values) are returned unchanged.

    >>> csv_safe_text("=HYPERLINK(1)"), csv_safe_text("-10.5"), csv_safe_text(-10.5)
    ("'=HYPERLINK(1)", "'-10.5", -10.5)
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _unquote_text(value):
    """The inverse of :func:`csv_safe_text` on a cell read back."""
    if isinstance(value, str) and value[:1] == "'" and value[1:2] and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def _is_text(series: pd.Series) -> bool:
    return (
        series.dtype == object
        or isinstance(series.dtype, (pd.StringDtype, pd.CategoricalDtype))
        or pd.api.types.is_string_dtype(series.dtype)
    )


def _map_text(df: pd.DataFrame, func) -> pd.DataFrame:
    """A new frame with `func` applied to every text cell and to the column names."""
    out = df.copy()
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if _is_text(col):
            if isinstance(col.dtype, pd.CategoricalDtype):
                col = col.astype(object)
            out.isetitem(i, col.map(func, na_action="ignore"))
    out.columns = [func(c) if isinstance(c, str) else c for c in df.columns]
    return out


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` whose text cells and column names pass through :func:`csv_safe_text`.

    Numeric columns are not touched, so ``-10.5`` in a float column stays a number.
    """
    return _map_text(df, csv_safe_text)


def set_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Side and level as categoricals, codes as strings (a new frame).

    Every spelling of :mod:`mfscan.vocab` is accepted (``L``, ``lt``, ``Right``,
    `` l4``); blank cells are missing; other values raise MfscanError naming them.
    """
    df = df.copy()
    if "side" in df:
        df["side"] = vocab.as_side(df["side"], "side")
    if "level" in df:
        df["level"] = vocab.as_level(df["level"], "level")
    for c in STRING_COLUMNS:
        if c in df and df[c].dtype != "string":
            df[c] = df[c].astype("string")
    return df


def read_table(path) -> pd.DataFrame:
    """Read a CSV written by mfscan (or by hand), keeping codes as strings."""
    path = Path(path)
    try:
        head = pd.read_csv(path, nrows=0)
    except FileNotFoundError as e:
        raise MfscanError("file not found", path) from e
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise MfscanError(f"not a readable CSV table ({e})", path) from e
    dtypes = {c: "string" for c in head.columns if c in STRING_COLUMNS}
    try:
        df = pd.read_csv(path, dtype=dtypes, keep_default_na=True)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as e:
        raise MfscanError(f"not a readable CSV table ({e})", path) from e
    df = _map_text(df, _unquote_text)
    try:
        return set_dtypes(df)
    except MfscanError as e:
        raise MfscanError(e.message, path) from e


def _refuse_source(path: Path) -> None:
    """Never write a table over an image, a sidecar or any other JSON file (a mistyped ``-o``)."""
    from mfscan.io.images import SUPPORTED_SUFFIXES, is_supported

    if (
        path.suffix.lower() == ".json"  # sidecars (.mfscan.json), the study file, model cards
        or path.suffix.lower() in SUPPORTED_SUFFIXES
        or (path.is_file() and is_supported(path))
    ):
        raise MfscanError(
            "refusing to write a table over an image or a sidecar; give the output a .csv name", path
        )


def check_output(path) -> Path:
    """Raise MfscanError now if a table could not be written to `path` later."""
    path = Path(path)
    _refuse_source(path)
    if path.is_dir():
        raise MfscanError("is a folder; give a .csv file name", path)
    return path


def write_table(df: pd.DataFrame, path, *, float_format: str | None = "%.10g") -> Path:
    """Write a DataFrame as CSV atomically (no index column; 10 significant digits).

    Text cells that a spreadsheet would run as a formula get a leading ``'``
    (:func:`neutralise_formulas`); numbers are written as numbers. The folder is created when missing. Raises MfscanError (naming the file) when
    the table cannot be written, or when `path` is an image or a sidecar.
    """

    path = Path(path)
    _refuse_source(path)
    buf = io.StringIO()
    neutralise_formulas(df).to_csv(buf, index=False, float_format=float_format, lineterminator="\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    except OSError as e:
        raise MfscanError(f"cannot write the table ({e.strerror or e})", path) from e
    return path


def read_subjects(path) -> pd.DataFrame:
    """Read ``subjects.csv``: ``subject, symptomatic_side[, group]``, codes as strings.

    Column names are stripped and case-folded. ``symptomatic_side`` is ``left``,
    ``right``, ``none`` or ``bilateral`` in any spelling :mod:`mfscan.vocab` accepts
    (``R``, ``lt``, ``Left``); a blank cell is missing.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    DataFrame
        Every column as text, ``symptomatic_side`` normalised (missing as NaN).

    Raises
    ------
    MfscanError
        When the file is missing or unreadable, lacks a column, or has an unknown
        symptomatic side (naming the value and its subject).
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError as e:
        raise MfscanError("subjects file not found", path) from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise MfscanError(f"not a readable CSV ({e})", path) from e
    df = _map_text(df, _unquote_text)
    df.columns = [c.strip().lower() for c in df.columns]
    missing = {"subject", "symptomatic_side"} - set(df.columns)
    if missing:
        raise MfscanError(
            f"subjects file lacks column(s) {', '.join(sorted(missing))}; "
            "expected subject, symptomatic_side[, group]",
            path,
        )
    raw = df["symptomatic_side"]
    side = raw.map(vocab.symptomatic_or_none, na_action="ignore")
    bad = raw.notna() & side.isna() & (raw.str.strip() != "")
    if bad.any():
        raise MfscanError(
            f"symptomatic_side {raw[bad].iloc[0]!r} for subject "
            f"{df.loc[bad, 'subject'].iloc[0]!r} is not left, right, none or bilateral",
            path,
        )
    df["symptomatic_side"] = side
    return df
