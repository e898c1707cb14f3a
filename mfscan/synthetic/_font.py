"""A 5 x 7 bitmap font for the phantom's burned-in text, drawn by NumPy alone.

OpenCV's ``putText`` is not bit-stable across releases (OpenCV 5 draws its Hershey
fonts differently from 4.x), so a regenerated sample study would differ from the
committed one in every text pixel. This font is data: each glyph is seven rows of
five cells, scaled by an integer factor with :func:`numpy.kron`, so the same text
gives the same pixels with any NumPy or OpenCV version. Lower-case letters are drawn
in upper case (scanners' burned-in text is mostly upper case); a character the font
does not have is drawn as ``?``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = ["Font", "font_for", "text_size", "put_text"]

#: Glyph rows, top to bottom; ``#`` is ink.
_GLYPHS = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    " ": (".....",) * 7,
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    ",": (".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    "+": (".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."),
    "=": (".....", ".....", "#####", ".....", "#####", ".....", "....."),
    "/": (".....", "....#", "...#.", "..#..", ".#...", "#....", "....."),
    "%": ("##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    "_": (".....", ".....", ".....", ".....", ".....", ".....", "#####"),
    "'": ("..#..", "..#..", ".#...", ".....", ".....", ".....", "....."),
    "?": (".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."),
}
_ROWS, _COLS = 7, 5


@dataclass(frozen=True)
class Font:
    """The bitmap font at an integer pixel size: each glyph cell is ``px`` x ``px`` pixels."""

    px: int

    @property
    def advance(self) -> int:
        """Columns from one character's left edge to the next one's (a one-cell gap)."""
        return (_COLS + 1) * self.px

    @property
    def height(self) -> int:
        """Rows of a glyph above the baseline."""
        return _ROWS * self.px

    @property
    def baseline(self) -> int:
        """Rows kept below the baseline (as OpenCV's ``getTextSize`` reports them)."""
        return 2 * self.px


def font_for(rows: int, cols: int, scale: float) -> Font:
    """The font for an image size: about as tall as a Hershey font of ``scale`` at 480 pixels."""
    return Font(max(1, int(round(3.0 * scale * min(rows, cols) / 480.0))))


@cache
def _glyph(ch: str) -> np.ndarray:
    rows = _GLYPHS.get(ch.upper(), _GLYPHS["?"])
    return np.array([[c == "#" for c in row] for row in rows], dtype=bool)


def text_size(text: str, font: Font) -> tuple[tuple[int, int], int]:
    """``((width, height), baseline)`` of ``text`` in pixels, like OpenCV's ``getTextSize``."""
    width = max(0, len(text) * font.advance - font.px)
    return (width, font.height), font.baseline


def put_text(image: np.ndarray, text: str, org_xy: tuple[int, int], font: Font, value: int = 255) -> None:
    """Draw ``text`` into the 2-D ``image`` in place, baseline-left at ``org_xy`` = (col, row).

    Pixels outside the image are left out; ink pixels take ``value`` (no anti-aliasing).
    """
    x0, base_row = int(org_xy[0]), int(org_xy[1])
    top = base_row - font.height + 1
    block = np.ones((font.px, font.px), dtype=bool)
    rows, cols = image.shape[:2]
    for i, ch in enumerate(text):
        ink = np.kron(_glyph(ch), block)
        r0, c0 = top, x0 + i * font.advance
        rs, cs = max(r0, 0), max(c0, 0)
        re, ce = min(r0 + ink.shape[0], rows), min(c0 + ink.shape[1], cols)
        if rs >= re or cs >= ce:
            continue
        sub = ink[rs - r0 : re - r0, cs - c0 : ce - c0]
        image[rs:re, cs:ce][sub] = value
