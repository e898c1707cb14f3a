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
:func:`mfscan.calibration.rater_override`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mfscan.calibration import SharedScale
from mfscan.measure.annotation import read_one, read_sidecars
from mfscan.measure.discover import Job, discover

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
    """

    root: Path | None
    jobs: list[Job] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    blinded: bool = False

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
    return Study(root, jobs, errors, study_blinded(root or paths[0]) if paths else False)
