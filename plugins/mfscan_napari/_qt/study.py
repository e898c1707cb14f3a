"""Study controller of the widget: codes that cannot drift, sessions, blinding, randomised order.

* On opening an image its subject, visit and level are read from its own
  sidecars (any rater; the rater's own session first) or from the study's
  naming pattern; a code nobody knows is left blank, never carried over.
* A save whose codes disagree with another sidecar of the image or with the
  pattern is refused (:meth:`StudyController.refusal`) until the rater ticks
  “I corrected these codes” (:meth:`confirm`).
* Blinded studies (``mfscan.study.json``): other raters' and sessions' outline
  layers are never shown; the worklist follows the rater's session's random order.

The rules are in :mod:`mfscan.annotations.codes`, :mod:`mfscan.annotations.study_file`
and :mod:`mfscan_napari._model.study`; this object applies them to the widget.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import QTimer

from mfscan.annotations import (
    STUDY_FILE,
    code_disagreements,
    disagreement_text,
    find_study_folder,
    image_codes,
    order_key,
    read_study_settings,
    sidecar_codes,
    write_study_settings,
)
from mfscan.errors import MfscanError

from .. import _model
from .._model import is_outline_layer, layer_meta

CODES = ("subject", "visit", "level")


class StudyController:
    """Applies a study folder's settings to a widget.

    Parameters
    ----------
    widget : MultifidusWidget
    """

    def __init__(self, widget):
        self.widget = widget
        self.folder: Path | None = None
        self.settings: dict = read_study_settings(Path("/nonexistent-mfscan-study"))
        self.confirmed = False
        self.owner = (None, None)  # (rater, session) the layers were last shown for
        self.pending: dict = {}  # settings typed before a study folder was open, written when one is

    # ------------------------------------------------------------------ settings
    @property
    def blinded(self) -> bool:
        return bool(self.settings.get("blinded"))

    @property
    def pattern(self) -> str | None:
        return self.settings.get("pattern")

    def load(self, folder) -> None:
        """Read the study settings of `folder` (None: no study folder)."""
        self.folder = Path(folder).resolve() if folder is not None else None
        try:
            self.settings = read_study_settings(self.folder or Path("/nonexistent-mfscan-study"))
        except MfscanError as e:
            self.widget.saver.message(f"Study settings ignored: {e}", error=True)
            self.settings = read_study_settings(Path("/nonexistent-mfscan-study"))
        if self.pending and self.folder is not None:
            self._apply_pending()
        self.show()

    def _apply_pending(self) -> None:
        """Write the settings typed before the folder was open into its study file, unless the file
        already says otherwise (then the folder's settings stay, and the rater is told)."""
        pending, self.pending = self.pending, {}
        kept = {k: v for k, v in pending.items() if self.settings.get(k) not in (None, False, v)}
        changes = {k: v for k, v in pending.items() if k not in kept}
        if changes and self._write(**changes):
            self.widget.saver.message(
                f"Study settings saved in {self.folder / STUDY_FILE}: "
                + ", ".join(f"{k} {v}" for k, v in changes.items())
                + "."
            )
        if kept:
            self.widget.saver.message(
                f"{self.folder / STUDY_FILE} already sets "
                + ", ".join(f"{k} {self.settings.get(k)}" for k in kept)
                + ": the study's settings were kept, not the ones typed before the folder was open ("
                + ", ".join(f"{k} {v}" for k, v in kept.items())
                + "). Change them in Study settings if the study's are wrong.",
                error=True,
            )

    def load_for_image(self, image_path) -> None:
        """The study folder of an image: the worklist's folder when the image is in it, else the
        nearest folder above it with ``mfscan.study.json``."""
        wl = self.widget.worklist
        p = Path(image_path).resolve()
        if wl is not None and wl.folder in p.parents:
            folder = wl.folder
        else:
            folder = find_study_folder(p)
        if folder != self.folder:
            self.load(folder)

    def _write(self, **changes) -> bool:
        w = self.widget
        folder = self.folder
        if folder is None:
            il = w.image_layer
            ip = layer_meta(il).get("image_path") if il is not None else None
            if not ip or _model.is_memory(ip):  # kept until a folder is open (the README's order)
                self.pending.update(changes)
                self.settings = {**self.settings, **changes}
                self.show()
                w.saver.message("Study settings kept: they are saved in the study folder you open next.")
                return True
            folder = Path(ip).resolve().parent
        try:
            settings = read_study_settings(folder)
            settings.update(changes)
            write_study_settings(folder, settings)
        except MfscanError as e:
            w.saver.message(f"Study settings not saved: {e}", error=True)
            return False
        self.folder, self.settings = folder, settings
        self.show()
        return True

    def set_pattern(self, pattern: str | None) -> bool:
        """Set (and store in the study folder) the naming pattern; refills the current codes."""
        ok = self._write(pattern=(pattern or "").strip() or None)
        if ok:
            self.fill_codes()
        return ok

    def set_blinded(self, on: bool) -> bool:
        """Turn blinded mode on or off for every rater of the study folder; reloads the image."""
        ok = self._write(blinded=bool(on))
        if ok:
            self.reopen()
        return ok

    def show(self) -> None:
        sp = self.widget.study_panel
        sp.pattern_edit.setText(self.pattern or "")
        sp.blinded_check.setChecked(self.blinded)
        if self.folder is None:
            sp.status_label.setText("No study folder open.")
        else:
            what = "blinded" if self.blinded else "not blinded"
            sp.status_label.setText(f"Study folder {self.folder.name}: {what}.")

    # ------------------------------------------------------------------ codes
    def relative(self, image_path):
        p = Path(image_path).resolve()
        if self.folder is not None and self.folder in p.parents:
            return p.relative_to(self.folder).as_posix()
        return p.name

    def fill_codes(self, image_path=None) -> None:
        """Fill subject, visit and level from the image's sidecars or the naming pattern (blank when
        unknown); never from the previous image."""
        w = self.widget
        if image_path is None:
            il = w.image_layer
            image_path = layer_meta(il).get("image_path") if il is not None else None
        self.confirmed = False
        if not image_path or _model.is_memory(image_path):
            w.codes.show_problems("")
            return
        self.load_for_image(image_path)
        f = w.fields()
        rows = sidecar_codes(image_path)
        own = [r for r in rows if _model.same_owner(r, f["rater"], f["session"])]
        codes, sources = image_codes(
            image_path, pattern=self.pattern, relative_path=self.relative(image_path)
        )
        for r in own:  # the rater's own session first: what they saved (maybe a confirmed correction)
            for k in CODES:
                if r[k]:
                    codes[k], sources[k] = r[k], r["path"]
        protocol = _model.protocol_codes(image_path, f["rater"], f["session"])  # the image's own only
        w.codes.set_fields(
            **{k: codes.get(k, "") for k in CODES}, **{k: protocol.get(k, "") for k in _model.PROTOCOL_FIELDS}
        )
        shown = _model.blinded_sources(
            [{"source": s} for s in sources.values()], rows, f["rater"], f["session"], blinded=self.blinded
        )  # a blinded rater is never told whose files there are
        names = sorted(
            {"naming pattern" if p["source"] == "pattern" else Path(p["source"]).name for p in shown}
        )
        w.codes.source_label.setText(("Codes from " + ", ".join(names)) if names else "Codes: not known yet")
        self.check_codes()

    def problems(self, layer=None) -> list[dict]:
        """Where the codes of the rater's layer (default: the widget's fields) disagree."""
        w = self.widget
        il = w.image_layer
        ip = layer_meta(il).get("image_path") if il is not None else None
        if layer is not None:
            ip = layer_meta(layer).get("image_path") or ip
        if not ip or _model.is_memory(ip):
            return []
        codes = w.fields() if layer is None else (layer_meta(layer).get("annotation") or {})
        exclude = layer_meta(layer).get("sidecar_path") if layer is not None else None
        if layer is None:
            mine = w.outline_layer(create=False, by_rater=True)
            exclude = layer_meta(mine).get("sidecar_path") if mine is not None else None
        probs = code_disagreements(
            codes, ip, pattern=self.pattern, relative_path=self.relative(ip), exclude=exclude
        )
        f = w.fields()
        return _model.blinded_sources(
            probs, sidecar_codes(ip), f["rater"], f["session"], blinded=self.blinded
        )

    def check_codes(self) -> None:
        """Show (or clear) the disagreement of the fields in the codes panel."""
        probs = self.problems()
        self.widget.codes.show_problems(
            ("Codes disagree: " + disagreement_text(probs) + ".") if probs else ""
        )

    def confirm(self, on: bool = True) -> None:
        """The rater confirms the codes of this image (until the image changes)."""
        self.confirmed = bool(on)
        cb = self.widget.codes.confirm_check
        if cb.isChecked() != self.confirmed:
            cb.setChecked(self.confirmed)

    def refusal(self, layer) -> str | None:
        """Why saving the rater's `layer` is refused (its codes disagree, not confirmed), or None."""
        if self.confirmed or not self.widget.is_mine(layer):
            return None
        probs = self.problems(layer)
        if not probs:
            return None
        self.widget.codes.show_problems("Codes disagree: " + disagreement_text(probs) + ".")
        return (
            "codes disagree: "
            + disagreement_text(probs)
            + ". Correct them, or tick “I corrected these codes” to save them anyway"
        )

    # ------------------------------------------------------------------ blinding
    def hides(self, annotation: dict) -> bool:
        f = self.widget.fields()
        return _model.is_hidden(annotation, f["rater"], f["session"], blinded=self.blinded)

    def filter_layer_data(self, layer_data: list) -> list:
        """Layer data tuples without the outline layers a blinded rater must not see."""
        out = []
        for t in layer_data:
            meta = (t[1].get("metadata") or {}).get(_model.KEY, {})
            if meta.get("kind") == "outlines" and self.hides(meta.get("annotation") or {}):
                continue
            out.append(t)
        return out

    def adopt(self, layer) -> bool:
        """A layer just added: True (and removed soon) when blinding hides it."""
        if is_outline_layer(layer) and self.hides(layer_meta(layer).get("annotation") or {}):
            QTimer.singleShot(0, lambda: self._remove_hidden(layer))
            return True
        return False

    def _remove_hidden(self, layer):
        v = self.widget.viewer
        if layer in v.layers and not layer_meta(layer).get("dirty"):
            v.layers.remove(layer)

    def owner_changed(self) -> None:
        """Rater or session typed: in a blinded study, the order and the layers shown follow."""
        f = self.widget.fields()
        owner = (f["rater"], f["session"])
        if owner == self.owner:
            return
        self.owner = owner
        if self.blinded:
            self.reopen()

    def reopen(self) -> None:
        """Blinding or the rater changed: with the study's folder open as the worklist, go to the
        rater's first image not saved in their own order (blinded) and open it; else reopen the
        current image (the layers shown follow the settings)."""
        w = self.widget
        wl = w.worklist
        if self.blinded and wl is not None and len(wl) and self.folder == wl.folder and w.fields()["rater"]:
            self.apply_order(resume=True)
            w.navigator.open_image(wl.current)
        else:
            self.reload()

    def reload(self) -> None:
        """Open the current image again (saving first): the layers shown follow the settings."""
        w = self.widget
        il = w.image_layer
        ip = layer_meta(il).get("image_path") if il is not None else None
        if ip and not _model.is_memory(ip) and Path(ip).is_file():
            w.navigator.open_image(ip)

    # ------------------------------------------------------------------ order
    def apply_order(self, *, resume: bool = False) -> None:
        """In a blinded study, put the worklist in the rater's session's random order (drawn
        once, kept in the study file); `resume`: go to the first image not yet saved."""
        w = self.widget
        wl = w.worklist
        f = w.fields()
        if wl is None or not len(wl) or not self.blinded or self.folder != wl.folder:
            return
        if not f["rater"]:
            w.saver.message("Blinded study: type your rater code (and session) to get your order.")
            return
        rel = [wl.relative(p) for p in sorted(wl.images, key=lambda p: wl.relative(p))]
        orders = self.settings.get("orders") or {}
        entry, changed = _model.worklist_order(orders, f["rater"], f["session"], rel)
        if changed:
            self._write(orders={**orders, order_key(f["rater"], f["session"]): entry})
        w.session.reorder(entry["order"])
        if resume:
            annotated = {wl.relative(p) for p in wl.images if wl.is_annotated(p, f["rater"], f["session"])}
            w.session.go(
                _model.resume_position([wl.relative(p) for p in wl.images], entry["done"], annotated)
            )
        w.navigator.update_ui()

    def saved(self, layer) -> None:
        """Record a saved image in the rater's session's ``done`` list (blinded studies)."""
        w = self.widget
        wl = w.worklist
        f = w.fields()
        ip = layer_meta(layer).get("image_path")
        if not (self.blinded and wl is not None and ip and f["rater"] and w.is_mine(layer)):
            return
        p = Path(ip).resolve()
        if wl.folder not in p.parents:
            return
        key = order_key(f["rater"], f["session"])
        orders = dict(self.settings.get("orders") or {})
        entry = dict(orders.get(key) or {})
        rel = wl.relative(p)
        if "seed" not in entry or rel in (entry.get("done") or []):
            return
        entry["done"] = [*(entry.get("done") or []), rel]
        orders[key] = entry
        self._write(orders=orders)
