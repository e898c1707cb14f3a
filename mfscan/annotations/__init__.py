"""mfscan.annotations: the outlines a rater traced, stored in sidecars beside the images.

- :mod:`.records`: :class:`ROI`, :class:`Annotation` and :func:`from_dict` (validation);
- :mod:`.sidecar`: reading, writing (atomic, with conflict detection) and :func:`dumps`;
- :mod:`.paths`: sidecar and conflict-copy file names beside an image.

Sides, levels and methods are those of :mod:`mfscan.vocab`; :func:`atomic_write_bytes`
and :func:`file_sha256` are those of :mod:`mfscan.io.files`.
"""

from .codes import (  # noqa: F401, E402
    CODE_FIELDS,
    code_disagreements,
    disagreement_text,
    image_codes,
    sidecar_codes,
)
from .paths import (  # noqa: F401
    CONFLICT_MARK,
    SUFFIX,
    conflict_path,
    find_sidecars,
    glob_escape,
    is_conflict_copy,
    is_sidecar,
    session_sidecar_names,  # noqa: F401, E402
    sidecar_names_image,
    sidecar_path,
)
from .records import (  # noqa: F401
    FORMAT,
    ROI,
    VERSION,
    Annotation,
    from_dict,
    normalize_side,
)
from .sidecar import (  # noqa: F401
    AnnotationConflictError,
    dumps,
    read_sidecar,
    write_sidecar,
)
from .study_file import (  # noqa: F401, E402
    STUDY_FILE,
    codes_from_pattern,
    find_study_folder,
    order_key,
    random_order,
    read_study_settings,
    study_border,
    write_study_settings,
)
