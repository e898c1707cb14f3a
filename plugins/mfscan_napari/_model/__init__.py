"""Pure model logic of the napari plugin: no Qt, no viewer.

Everything here converts between mfscan's core objects (:class:`mfscan.io.images.Image`,
:class:`mfscan.annotations.sidecar.Annotation`) and napari layer data (arrays, layer
keyword dictionaries, ``features`` tables), and measures outlines through the
core, so the widget shows exactly what ``mfscan measure`` writes to its CSV.

By concern:

* :mod:`.layers` — layers <-> annotations (layer metadata and ``features`` are described there);
* :mod:`.images` — loading, the :class:`~.images.ImageCache` a widget owns, sample images;
* :mod:`.calibration` — napari scale and units; the core's calibration rule applied to layers;
* :mod:`.rows` — display rows of the table, live asymmetry, warnings;
* :mod:`.saving` — saving and recovery, and the save policy as pure decisions;
* :mod:`.worklist`, :mod:`.settings` — a folder's images, remembered fields;
* :mod:`.study` — whose outlines a blinded study shows, randomised worklist orders, rater colours;
* :mod:`.history` — undo / redo of outline edits;
* :mod:`.assist` — Propose and Live-wire (the :class:`~.assist.LivewireTrace` state);
* :mod:`.session` — the evented :class:`~.session.Session` a widget owns: image, each rater's
  annotation, calibration, dirty state, worklist position.

This package re-exports their public names (``from mfscan_napari import _model``
then ``_model.read_layers``).
"""

from mfscan.annotations import conflict_path
from mfscan.calibration import UNCALIBRATED

from .assist import (
    LOW_CONFIDENCE,
    METHOD_LIVEWIRE,
    METHOD_MODEL,
    METHOD_PROPOSED,
    LivewireTrace,
    clean_anchors,
    livewire_outline,
    livewire_segment,
    model_propose,
    proposal_text,
    propose,
)
from .calibration import (
    KEY,
    OVERRIDE_LABEL,
    ScaleDisagrees,
    calibration_text,
    checked_scale,
    effective_calibration,
    layer_calibration,
    layer_override,
    layer_scale,
    layer_units,
    scale_line_calibration,
    shown_calibration,
    stored_override,
    stored_shared,
)
from .contraction import RestLookup
from .history import EditHistory, OutlineState, describe_edit
from .images import MEMORY_PREFIX, ImageCache, get_image, image_key, is_memory, load, register_memory_image
from .layers import (  # noqa: F401 - _hidden: the `_roi` feature parser, used by tests
    FEATURE_COLUMNS,
    SIDE_COLORS,
    _hidden,
    annotation_fields,
    annotation_from_layer,
    edited_methods,
    features_frame,
    image_layer_data,
    is_image_layer,
    is_outline_layer,
    layer_meta,
    new_annotation,
    outline_changed,
    outline_layer_name,
    read_layers,
    register_new_outline,
    shapes_layer_data,
    shapes_layer_kwargs,
    sidecar_image_path,
)
from .reuse import LayerSpec, ReusePlan, layer_spec, plan_reuse, tuple_spec
from .rows import (
    TABLE_COLUMNS,
    VALUE_COLUMNS,
    asymmetry_summary,
    asymmetry_text,
    empty_columns,
    level_title,
    measure_rows,
    outline_warnings,
    redundant_columns,
    short_status,
)
from .saving import (
    PROTOCOL_FIELDS,
    SaveResult,
    apply_study_fields,
    error_reason,
    is_unsaved,
    layer_sidecar_path,
    leave_refused_text,
    protocol_codes,
    recovery_dir,
    recovery_path,
    recovery_text,
    save_annotation,
    save_layer_state,
    save_policy_text,
    should_save,
    write_recovery,
)
from .session import Session, owner_key
from .settings import Settings, default_config_dir, study_key
from .study import (
    ANOTHER_TRACING,
    RATER_PALETTE,
    blinded_sources,
    is_hidden,
    rater_colors,
    resume_position,
    same_owner,
    worklist_order,
)
from .worklist import Worklist

__all__ = [
    "describe_edit",
    "ANOTHER_TRACING",
    "blinded_sources",
    "LayerSpec",
    "ReusePlan",
    "layer_spec",
    "plan_reuse",
    "tuple_spec",
    "RestLookup",
    "PROTOCOL_FIELDS",
    "protocol_codes",
    "KEY",
    "SIDE_COLORS",
    "TABLE_COLUMNS",
    "VALUE_COLUMNS",
    "FEATURE_COLUMNS",
    "Settings",
    "Session",
    "owner_key",
    "Worklist",
    "SaveResult",
    "UNCALIBRATED",
    "ImageCache",
    "MEMORY_PREFIX",
    "LivewireTrace",
    "get_image",
    "load",
    "image_key",
    "is_memory",
    "register_memory_image",
    "image_layer_data",
    "shapes_layer_data",
    "shapes_layer_kwargs",
    "annotation_from_layer",
    "annotation_fields",
    "layer_meta",
    "is_image_layer",
    "is_outline_layer",
    "outline_layer_name",
    "sidecar_image_path",
    "measure_rows",
    "asymmetry_summary",
    "asymmetry_text",
    "empty_columns",
    "redundant_columns",
    "short_status",
    "level_title",
    "outline_warnings",
    "save_annotation",
    "save_layer_state",
    "read_layers",
    "layer_sidecar_path",
    "conflict_path",
    "new_annotation",
    "features_frame",
    "calibration_text",
    "scale_line_calibration",
    "layer_scale",
    "layer_units",
    "effective_calibration",
    "stored_override",
    "shown_calibration",
    "layer_calibration",
    "layer_override",
    "stored_shared",
    "checked_scale",
    "ScaleDisagrees",
    "OVERRIDE_LABEL",
    "study_key",
    "propose",
    "proposal_text",
    "livewire_segment",
    "livewire_outline",
    "clean_anchors",
    "register_new_outline",
    "outline_changed",
    "edited_methods",
    "METHOD_MODEL",
    "model_propose",
    "METHOD_PROPOSED",
    "METHOD_LIVEWIRE",
    "LOW_CONFIDENCE",
    "recovery_dir",
    "recovery_path",
    "write_recovery",
    "default_config_dir",
    "save_policy_text",
    "should_save",
    "is_unsaved",
    "apply_study_fields",
    "error_reason",
    "recovery_text",
    "leave_refused_text",
    "EditHistory",
    "OutlineState",
    "RATER_PALETTE",
    "is_hidden",
    "rater_colors",
    "resume_position",
    "same_owner",
    "worklist_order",
]
