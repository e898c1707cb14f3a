"""The widget's key bindings: the viewer shortcuts (:data:`.style.SHORTCUTS`), bound and unbound
together, and the keys bound on single layers (undo / redo on outline layers, Esc while a tool
is armed, Enter / Backspace of the live-wire)."""

from __future__ import annotations

from collections.abc import Callable

from .style import SHORTCUTS


class KeyBindings:
    """Bind each named action to its shortcut on the viewer; unbind only what is still ours."""

    def __init__(self, viewer, actions: dict[str, Callable]):
        self.viewer = viewer
        self.actions = actions
        self.bound: dict = {}  # shortcut -> the function this widget bound on the viewer

    def bind(self) -> None:
        for name, action in self.actions.items():
            func = lambda _v, action=action: action()  # noqa: E731  (napari passes the viewer)
            self.viewer.bind_key(SHORTCUTS[name], func, overwrite=True)
            self.bound[SHORTCUTS[name]] = func

    def unbind(self) -> None:
        from napari.utils.key_bindings import coerce_keybinding

        keymap = self.viewer.keymap
        for key, func in self.bound.items():
            if keymap.get(coerce_keybinding(key)) is func:  # not one another widget bound since
                self.viewer.bind_key(key, None)
        self.bound = {}


def widget_keys(w) -> KeyBindings:
    """The viewer shortcuts of widget `w` (a :class:`.widget.MultifidusWidget`), bound."""
    keys = KeyBindings(
        w.viewer,
        {
            "trace_left": lambda: w.arm("left"),
            "trace_right": lambda: w.arm("right"),
            "propose_left": lambda: w.arm_propose("left"),
            "propose_right": lambda: w.arm_propose("right"),
            "next_image": lambda: w.step(1),
            "previous_image": lambda: w.step(-1),
            "undo": w.undo,
            "redo": w.redo,
        },
    )
    keys.bind()
    return keys


def bind_layer_keys(layer, actions: dict[str, Callable]) -> None:
    """Bind each key of `actions` on `layer` to its action (called without arguments)."""
    for key, action in actions.items():
        layer.bind_key(key, lambda _layer, action=action: action(), overwrite=True)


def unbind_layer_keys(layer, keys) -> None:
    """Unbind `keys` from `layer` (keys not bound are skipped)."""
    for key in keys:
        try:
            layer.bind_key(key, None)
        except (KeyError, ValueError, TypeError):
            pass
