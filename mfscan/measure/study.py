"""A study resolved once: its images and sidecars found and read once, passed down.

:func:`resolve_study` finds the images and sidecars of a folder (or files) with the one
name parser (:func:`mfscan.measure.discover.discover`, :mod:`mfscan.annotations.paths`),
reads every sidecar once (:func:`mfscan.measure.annotation.read_one`), and records
whether the study is blinded. The commands that walk a study (``measure``, ``check``,
``agreement`` and the report) take the :class:`Study` instead of finding and reading the
files again: :func:`mfscan.measure.batch.measure_jobs` (``study.annotated``),
:func:`mfscan.measure.check.check_study` and :func:`mfscan.measure.agreement.agreement_table`
(``study=``). Which scale applies to each sidecar is decided from the sidecars read here
by the one calibration rule (:meth:`Study.shared_scale`,
:func:`mfscan.calibration.sidecar_override`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mfscan.calibration import SharedScale
from mfscan.errors import MfscanError
from mfscan.measure.annotation import read_one, read_sidecars
from mfscan.measure.discover import Job, discover, relative_label
from mfscan.visits import study_visit_order
from mfscan.vocab import natural_sort_key

__all__ = ["Study", "resolve_study"]


@dataclass
class Study:
    """Images and sidecars of a study, each sidecar read once.

    Attributes
    ----------
    root : Path or None
        The one folder given (paths in tables are relative to it), else None.
    jobs : list of Job
        Every image (also those without sidecars), its sidecars and their contents
        (:attr:`mfscan.measure.discover.Job.read`).
    errors : list of dict
        ``{"path", "roi", "reason"}`` of discovery: sidecars without their image, paths
        that do not exist, files linking outside the folder.
    blinded : bool
        The study file marks the study blinded: messages name no other rater.
    pattern : str or None
        The study's naming pattern (``mfscan.study.json``), for codes no sidecar gives.
    """

    root: Path | None
    jobs: list[Job] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    blinded: bool = False
    pattern: str | None = None

    def relative(self, job: Job) -> str:
        """The image's path relative to the study folder (its full path without one), with ``/``."""
        return relative_label(job.image, self.root)

    def codes(self, job: Job) -> dict:
        """Subject, visit and level of `job`'s image (fields absent when unknown): from its
        sidecars as read here, else the naming pattern (:func:`mfscan.annotations.codes.image_codes`)."""
        from mfscan.annotations.codes import image_codes

        read = [(sc, a) for sc, a in (job.read or []) if not isinstance(a, str)]
        return image_codes(
            job.image, pattern=self.pattern, relative_path=self.relative(job), annotations=read
        )[0]

    def visit_table(self, codes: dict | None = None) -> pd.DataFrame:
        """``subject, visit, visit_date`` of every image with a visit (the date of its first
        sidecar that has one): what the visit order is settled from. `codes`: :meth:`codes`
        of each job by ``id(job)``, when already found."""
        rows = []
        for job in self.jobs:
            c = codes[id(job)] if codes is not None else self.codes(job)
            if c.get("visit") is None:
                continue
            dates = [a.visit_date for _, a in job.read or [] if not isinstance(a, str)]
            rows.append((c.get("subject", ""), c["visit"], next((d for d in dates if d), None)))
        return pd.DataFrame(rows, columns=["subject", "visit", "visit_date"])

    def visit_order(self, visit_order=None, *, codes: dict | None = None) -> list[str] | None:
        """THE study's visit order (:func:`mfscan.visits.study_visit_order`): `visit_order` when
        given, else the sidecars' visit dates, else the rule; None without visits.

        Raises
        ------
        MfscanError
            As :func:`mfscan.visits.study_visit_order` (the message names ``--visit-order``).
        """
        return study_visit_order(self.visit_table(codes), visit_order)[0]

    def ordered(self, visit_order=None) -> list[Job]:
        """The images in study order: by path (natural order), each subject's images with a
        visit then put, in the places they hold, in the study's visit order
        (:meth:`visit_order`; ties by path). Images without a subject or visit keep their
        place, so that coding an image moves it at most among its subject's images. When
        the visits cannot be ordered (the policy refuses them), by path alone."""
        by_path = sorted(self.jobs, key=lambda j: natural_sort_key(self.relative(j)))
        codes = {id(j): self.codes(j) for j in self.jobs}  # each image's codes found once
        try:
            order = self.visit_order(visit_order, codes=codes) or []
        except MfscanError:
            return by_path
        rank = {v: i for i, v in enumerate(order)}
        slots: dict[str, list[int]] = {}
        for i, job in enumerate(by_path):
            c = codes[id(job)]
            if c.get("subject") is not None and c.get("visit") in rank:
                slots.setdefault(c["subject"], []).append(i)
        out = list(by_path)
        for places in slots.values():
            jobs = sorted((by_path[i] for i in places), key=lambda j: rank[codes[id(j)]["visit"]])
            for i, job in zip(places, jobs, strict=True):
                out[i] = job
        return out

    @property
    def annotated(self) -> list[Job]:
        """The jobs of images with at least one sidecar."""
        return [j for j in self.jobs if j.sidecars]

    def shared_scale(self, job: Job) -> SharedScale:
        """The scale the sidecars of `job`'s image agree on (:func:`mfscan.calibration.shared_scale`)."""
        from mfscan.annotations.scales import image_shared_scale

        anns, _ = read_sidecars(job.read if job.read is not None else job.sidecars)
        return image_shared_scale(job.image, annotations=anns, blinded=self.blinded)


def resolve_study(paths) -> Study:
    """Find the images and sidecars under `paths` once and read every sidecar once.

    Parameters
    ----------
    paths : str, Path or iterable of them
        A study folder, or image files, sidecar files and folders.

    Returns
    -------
    Study
    """
    from mfscan.annotations.scales import study_blinded

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    paths = [Path(p) for p in paths]
    root = paths[0] if len(paths) == 1 and paths[0].is_dir() else None
    jobs, errors = discover(paths, include_unannotated=True)
    for job in jobs:
        job.read = [(sc, read_one(sc)) for sc in job.sidecars]
    return Study(root, jobs, errors, study_blinded(root or paths[0]) if paths else False, _pattern(root))


def _pattern(root: Path | None) -> str | None:
    """The naming pattern of the study file in `root` (None without one, or unreadable: ``mfscan
    check`` reports that file's problem)."""
    from mfscan.annotations.study_file import read_study_settings

    if root is None:
        return None
    try:
        return read_study_settings(root).get("pattern")
    except MfscanError:
        return None
