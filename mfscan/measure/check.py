"""``mfscan check``: is this study folder consistent? Every problem, with its file.

Like the BIDS validator for neuroimaging, :func:`check_study` reads every sidecar
of a study folder (found by :func:`mfscan.measure.discover.discover`, read by
:func:`mfscan.annotations.read_sidecar`) and lists what would make the analysis
wrong or incomplete, before anything is measured. The rules (one function each in
:mod:`mfscan.measure._check_rules`):

- ``unreadable``: a sidecar that cannot be read (not JSON, invalid content);
- ``missing_image``: a sidecar whose image is missing;
- ``image_mismatch``: a sidecar naming another image, or whose image changed since
  it was annotated (``image_sha256``): :func:`mfscan.measure.annotation.check_annotation`;
- ``duplicate_sidecar``: two sidecars of one image with the same rater and session;
- ``missing_code``: subject, visit, level or rater absent;
- ``codes_disagree``: subject, visit or level that differ between the sidecars of one image;
- ``one_side``: a transverse outline image with one side traced and not the other
  (parasagittal views and thickness/fat lines are never flagged);
- ``same_image``: one image under two names (identical SHA-256 of the file bytes);
- ``calibration_differs``: two sidecars of one image whose calibrations, by the one
  rule (:func:`mfscan.calibration.image_calibration`), differ by more than 1%;
- ``scale_differs_from_image``: a sidecar's typed or scale-line calibration more than 1%
  from the image's own DICOM or ImageJ calibration (:func:`mfscan.calibration.typed_scale_problem`),
  or outside the plausible 0.005-5 mm per pixel;
- ``visit_order``: visit labels that :func:`mfscan.visits.visit_order`
  cannot put in time order;
- ``subject_not_listed``: a subject missing from ``subjects.csv``;
- ``image_unreadable``: an image whose calibration was needed but could not be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mfscan import calibration as _cal
from mfscan.errors import MfscanError
from mfscan.measure import _check_rules as rules
from mfscan.measure.agreement import _LazyImage
from mfscan.measure.annotation import check_annotation, drop_duplicates, read_sidecars
from mfscan.measure.discover import relative_label
from mfscan.measure.study import Study, resolve_study

__all__ = ["PROBLEMS", "CHECK_COLUMNS", "check_study", "problems_by_kind"]

#: Problem kinds and their headings, in the order they are listed.
PROBLEMS = {
    "unreadable": "sidecars that cannot be read",
    "missing_image": "sidecars whose image is missing",
    "image_mismatch": "sidecars that do not match their image",
    "duplicate_sidecar": "two sidecars with the same rater and session",
    "missing_code": "missing subject, visit, level or rater",
    "codes_disagree": "codes that disagree between sidecars of the same image",
    "one_side": "one side traced and not the other",
    "same_image": "the same image under two names",
    "calibration_differs": "calibrations of one image that differ",
    "scale_differs_from_image": "typed or drawn scales that differ from the image's own",
    "visit_order": "visit labels that cannot be ordered",
    "subject_not_listed": "subjects missing from the subjects table",
    "image_unreadable": "images that cannot be read",
}

#: Columns of :func:`check_study`'s table.
CHECK_COLUMNS = ("file", "problem", "message", "image", "subject", "visit", "rater", "session")


def _subjects_listed(subjects) -> tuple[set[str] | None, str]:
    if subjects is None:
        return None, ""
    if isinstance(subjects, pd.DataFrame):
        df, name = subjects, "the subjects table"
    else:
        from mfscan.io.tables import read_subjects

        df, name = read_subjects(subjects), Path(subjects).name
    if "subject" not in df:
        raise MfscanError("the subjects table has no 'subject' column")
    return {str(s).strip() for s in df["subject"].dropna()}, name


def _read(job, label, found: list) -> list:
    """The readable sidecars of one image; problems of reading and duplicates go to `found`."""
    anns, unread = read_sidecars(job.read if job.read is not None else job.sidecars)
    for sc, why in unread:
        found.append(rules.problem(label(sc), "unreadable", why, image=label(job.image)))
    errors: list[dict] = []
    anns = drop_duplicates(anns, job.image, None, errors)
    for e in errors:
        found.append(
            rules.problem(label(e["path"]), "duplicate_sidecar", e["reason"], image=label(job.image))
        )
    return anns


def _check_image(job, label, found, records, tolerance_pct, max_pixels) -> None:
    """Every rule that looks at the sidecars of one image."""
    image = label(job.image)
    anns = _read(job, label, found)
    labels = {id(a): label(a.path) for a in anns}
    digests: dict = {}
    belong = []
    for a in anns:
        records.append((labels[id(a)], a))
        found += rules.missing_codes(a, labels[id(a)], image)
        mismatch = check_annotation(a, job.image, digests)
        if mismatch:
            found.append(rules.problem(labels[id(a)], "image_mismatch", mismatch, a, image))
            continue
        belong.append(a)
        found += rules.one_side(a, labels[id(a)], image)
    found += rules.codes_disagree(belong, labels, image)
    lazy = _LazyImage(job.image, max_pixels)  # decoded only when a rule needs its calibration
    if len(belong) > 1:
        found += rules.calibrations_differ(belong, labels, lazy, image, tolerance_pct)
    unread = any(f["problem"] == "image_unreadable" and f["file"] == image for f in found)
    if any(_cal.is_override(a.calibration) for a in belong):
        # PNG, JPEG, BMP are never decoded; an unreadable image (said once): the range still checked
        own = lazy if not unread and _may_have_own_scale(job.image) else None
        found += rules.scale_differs_from_image(belong, labels, own, image, tolerance_pct)


def _may_have_own_scale(path) -> bool:
    """False for formats that carry no calibration (PNG, JPEG, BMP), read from the header only."""
    from mfscan.io.images import read_header

    try:
        return read_header(path)["format"] in ("dicom", "tiff")
    except MfscanError:
        return True  # decoding it will say what is wrong


def check_study(
    study_dir,
    *,
    subjects=None,
    visit_order: Sequence[str] | None = None,
    tolerance_pct: float = 1.0,
    max_pixels: int | None = None,
    study: Study | None = None,
) -> pd.DataFrame:
    """Every problem of a study folder, with its file.

    Parameters
    ----------
    study_dir : str or Path
        The study folder (searched recursively for images and sidecars).
    subjects : str, Path or DataFrame, optional
        ``subjects.csv`` (read by :func:`mfscan.io.tables.read_subjects`) or its
        table; when given, every subject of the sidecars must be listed.
    visit_order : sequence of str, optional, keyword-only
        Visit labels in time order, as given to the report; then every label must be
        in it. Default: :func:`mfscan.visits.visit_order` must order them.
    tolerance_pct : float, keyword-only
        Calibrations of one image more than this far apart (% of the smaller, on
        either axis) are flagged. Default 1%.
    max_pixels : int, optional
        Refuse larger images when one must be read for its calibration.
    study : Study, optional, keyword-only
        The study resolved once (:func:`mfscan.measure.study.resolve_study`), whose
        sidecars are not read again; by default `study_dir` is resolved here.

    Returns
    -------
    DataFrame
        Columns :data:`CHECK_COLUMNS`: ``file`` (relative to `study_dir`, POSIX;
        ``.`` for the study as a whole), ``problem`` (a categorical of the keys of
        :data:`PROBLEMS`), ``message``, and the ``image`` and codes of the sidecar
        concerned when known. Empty for a clean study. ``attrs`` holds
        ``n_images`` and ``n_sidecars`` (what was checked).

    Raises
    ------
    MfscanError
        When `study_dir` is not a folder or the subjects table cannot be read.
    """
    root = Path(study_dir)
    if not root.is_dir():
        raise MfscanError("not a folder; give the study folder", root)
    listed, subjects_name = _subjects_listed(subjects)

    def label(p) -> str:
        return relative_label(Path(p), root)

    if study is None:
        study = resolve_study(root)
    jobs, errors = study.jobs, [dict(e) for e in study.errors]
    found: list[dict] = [rules.problem(label(e["path"]), "missing_image", e["reason"]) for e in errors]
    records: list[tuple] = []
    for job in jobs:
        if job.sidecars:
            _check_image(job, label, found, records, tolerance_pct, max_pixels)
    found += rules.same_image([j.image for j in jobs], label)
    found += rules.visit_labels(records, visit_order)
    if listed is not None:
        found += rules.subjects_not_listed(records, listed, subjects_name)
    table = pd.DataFrame(found, columns=list(CHECK_COLUMNS))
    table["problem"] = pd.Categorical(table["problem"], categories=list(PROBLEMS))
    table = table.sort_values(["problem", "file"], kind="stable").reset_index(drop=True)
    for c in CHECK_COLUMNS:
        if c != "problem":
            table[c] = table[c].astype("string")
    table.attrs.update(
        n_images=sum(1 for j in jobs if j.sidecars),
        n_sidecars=sum(len(j.sidecars) for j in jobs) + len(errors),
    )
    return table


def problems_by_kind(table: pd.DataFrame):
    """``(kind, heading, rows)`` for each kind of problem present, in :data:`PROBLEMS` order."""
    for kind, heading in PROBLEMS.items():
        rows = table[table["problem"] == kind]
        if len(rows):
            yield kind, heading, rows
