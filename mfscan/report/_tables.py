"""HTML tables that fit the page, and the row and column order every report table shares.

A table wider than the page is split into column groups (the key columns, such as
subject, visit, level, rater and session, repeated in each group) instead of
hiding columns behind a horizontal scroll bar; headers may wrap at underscores.
Rows are shown in study order: visits in the study's order, sessions and other
codes in natural order (``1 < 2 < 10``, a blank session first).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mfscan.vocab import natural_sort_key

__all__ = ["KEY_COLUMNS", "table", "img", "order_columns", "sort_rows", "natural_ranks", "PAGE_PX"]

#: Identifying columns, in the order they are shown first (and repeated in every column group).
KEY_COLUMNS = (
    "between",
    "measure",
    "group",
    "subject",
    "visit",
    "level",
    "side",
    "side_status",
    "rater",
    "session",
)
#: Width (px) a table may take: the page's 1150 px less its padding.
PAGE_PX = 1110
_CHAR_PX = 7.2  # one character at the table's 0.85 em (digits and bold headers are wider than average)
_CELL_PX = 17  # padding and border of a cell

_e = html.escape


def img(uri, alt: str) -> str:
    """An ``<img>`` of a data URI, or nothing when there is no figure."""
    return f"<img class='plot' alt='{_e(alt)}' src='{uri}'>" if uri else ""


def order_columns(columns: Sequence[str]) -> list[str]:
    """The columns with ``session`` moved right after ``rater`` (a session belongs to its rater)."""
    cols = list(dict.fromkeys(columns))
    if "rater" in cols and "session" in cols:
        cols.remove("session")
        cols.insert(cols.index("rater") + 1, "session")
    return cols


def natural_ranks(values: pd.Series, order: Sequence[str] | None = None) -> pd.Series:
    """Integer sort ranks of labels: by ``order`` when given (unknown labels after it), else
    natural order (numbers by value: ``1 < 2 < 10``); missing values first."""
    text = values.astype(object).where(values.notna(), None)
    labels = sorted({str(v) for v in text if v is not None and str(v) != ""}, key=natural_sort_key)
    if order is not None:
        given = [str(v) for v in order]
        labels = [v for v in given if v in labels] + [v for v in labels if v not in given]
    rank = {v: i for i, v in enumerate(labels)}
    return pd.Series(
        [-1 if v is None or str(v) == "" else rank[str(v)] for v in text], index=values.index, dtype="int64"
    )


def sort_rows(df: pd.DataFrame, visit_order: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows in study order by the key columns present (a stable sort; the input is not modified)."""
    by = [c for c in KEY_COLUMNS if c in df.columns]
    if df is None or df.empty or not by:
        return df

    def key(col: pd.Series) -> pd.Series:
        return natural_ranks(col, visit_order if col.name == "visit" else None)

    return df.sort_values(by=by, key=key, kind="stable")


def _cell(v, digits: int) -> tuple[str, str]:
    """The text and CSS class of one value."""
    if isinstance(v, (float, np.floating)):
        return ("" if pd.isna(v) else f"{v:.{digits}f}"), ""
    if isinstance(v, (bool, np.bool_)):
        return ("yes" if v else "no"), "t"
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "", ""
    if isinstance(v, (int, np.integer)):
        return str(v), ""
    return str(v), "t"


def _header(name) -> str:
    """A header that may wrap after underscores and spaces."""
    return _e(str(name)).replace("_", "_<wbr>")


def _width(name, texts: list[str]) -> float:
    """Estimated width (px) of a column: its longest value or its header wrapped at ``_``."""
    head = str(name)
    pieces = head.replace(" ", "_").split("_")
    head_chars = max(max(len(p) + 1 for p in pieces), math.ceil(len(head) / 3))
    chars = max([head_chars, *(len(t) for t in texts)])
    return chars * _CHAR_PX + _CELL_PX


def _fill(rest: list[str], widths: dict, cap: float) -> list[list[str]]:
    """Consecutive columns, as many as fit in ``cap`` px per group (at least one each)."""
    groups, current, used = [], [], 0.0
    for c in rest:
        if current and used + widths[c] > cap:
            groups.append(current)
            current, used = [], 0.0
        current.append(c)
        used += widths[c]
    return [*groups, current]


def _column_groups(columns: list[str], widths: dict, key: list[str], limit: float) -> list[list[str]]:
    """The key columns plus consecutive other columns per group: as few groups as fit in
    ``limit`` px, their widths balanced (no group of one leftover column)."""
    rest = [c for c in columns if c not in key]
    if sum(widths[c] for c in columns) <= limit or not rest:
        return [columns]
    avail = max(limit - sum(widths[c] for c in key), max(widths[c] for c in rest))
    n = len(_fill(rest, widths, avail))
    cap = sum(widths[c] for c in rest) / n
    groups = _fill(rest, widths, cap)
    while len(groups) > n:
        cap += 8.0
        groups = _fill(rest, widths, cap)
    return [key + g for g in groups]


def table(
    df: pd.DataFrame,
    *,
    columns=None,
    flags=None,
    max_rows: int = 500,
    digits: int = 2,
    raw=(),
    key: Sequence[str] | None = None,
    limit: float = PAGE_PX,
) -> str:
    """An HTML table that fits the page; every value is escaped except the columns named in ``raw``.

    Parameters
    ----------
    df : DataFrame
    columns : sequence of str, optional
        The columns shown, in order (default: all); ``session`` is moved beside ``rater``.
    flags : Series of bool, optional
        Rows drawn highlighted.
    max_rows : int
        Rows shown; a note points to the CSV for the rest.
    digits : int
        Decimals of float values.
    raw : collection of str
        Columns holding HTML (not escaped).
    key : sequence of str, optional
        Columns repeated in every column group of a wide table; default: those of
        :data:`KEY_COLUMNS` present, moved to the front.
    limit : float
        Width (px) above which the table is split into column groups.
    """
    if df is None or df.empty:
        return "<p class='small'>(none)</p>"
    cols = order_columns(columns if columns is not None else list(df.columns))
    key = [c for c in (key if key is not None else order_columns(KEY_COLUMNS)) if c in cols]
    cols = key + [c for c in cols if c not in key]
    d = df[cols].head(max_rows)
    text_columns = {c for c in d.columns if d[c].dtype == object or str(d[c].dtype) in ("string", "category")}
    cells = {c: [_cell(v, digits) if c not in raw else (v, "t") for v in d[c].tolist()] for c in cols}
    widths = {
        c: _width(c, [s for s, _ in cells[c]] if c not in raw else ["view view"] * min(len(d), 1))
        for c in cols
    }
    if flags is None:
        flag = [False] * len(d)
    else:
        if isinstance(flags, pd.Series) and not flags.index.equals(df.index) and df.index.is_unique:
            flags = flags.reindex(df.index)  # a table sorted for display: its flags follow its rows
        flags = pd.Series(list(flags)).fillna(False)
        flag = [bool(f) for f in list(flags)[: len(d)]]
    out = []
    groups = _column_groups(cols, widths, key, limit)
    for gi, group in enumerate(groups):
        head = "".join(f"<th class='{'t' if c in text_columns else ''}'>{_header(c)}</th>" for c in group)
        rows = []
        for i in range(len(d)):
            tds = "".join(
                f"<td class='{cells[c][i][1]}'>{cells[c][i][0] if c in raw else _e(cells[c][i][0])}</td>"
                for c in group
            )
            rows.append(f"<tr{' class=flag' if flag[i] else ''}>{tds}</tr>")
        caption = f"<caption>columns, part {gi + 1} of {len(groups)}</caption>" if len(groups) > 1 else ""
        out.append(f"<table>{caption}<tr>{head}</tr>{''.join(rows)}</table>")
    more = f"<p class='small'>… {len(df) - max_rows} more rows in the CSV</p>" if len(df) > max_rows else ""
    return f"<div class='scroll'>{''.join(out)}</div>{more}"
