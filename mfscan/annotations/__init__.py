"""mfscan.annotations: the outlines a rater traced, stored in sidecars beside the images.

- :mod:`.model`: :class:`ROI`, :class:`Annotation` and :func:`from_dict` (validation);
- :mod:`.sidecar`: reading, writing (atomic, with conflict detection) and :func:`dumps`;
- :mod:`.paths`: sidecar and conflict-copy file names beside an image.

Sides, levels and methods are those of :mod:`mfscan.vocab`; :func:`atomic_write_bytes`
and :func:`file_sha256` live in :mod:`mfscan.io.files` and are re-exported here.
"""

from mfscan.io.files import atomic_write_bytes, file_sha256  # noqa: F401

from .model import (  # noqa: F401
    FORMAT,
    VERSION,
    SIDES,
    LEVELS,
    METHODS,
    ROI,
    Annotation,
    normalize_side,
    from_dict,
)
from .paths import (  # noqa: F401
    SUFFIX,
    CONFLICT_MARK,
    is_conflict_copy,
    conflict_path,
    sidecar_path,
    is_sidecar,
    find_sidecars,
    glob_escape,
    sidecar_names_image,
)
from .sidecar import (  # noqa: F401
    AnnotationConflictError,
    read_sidecar,
    dumps,
    write_sidecar,
)
