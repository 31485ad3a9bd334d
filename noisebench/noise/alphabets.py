"""Replacement alphabets for the character noises: what "a character of the same class" means.

The class of a character is read from its base code point (marks are dropped with it when it is replaced):
    upper  letters Lu, Lt        lower  letters Ll        other-letter  Lo, Lm (CJK, kana, Arabic, ...)
    digit  Nd                    symbol everything else that is not whitespace (punctuation, symbols, emoji)
Its alphabet is every code point of the same class in the same 128-code-point block, taken from the Unicode 3.2
database that every Python ships (`unicodedata.ucd_3_2_0`), so alphabets never change between Python versions;
marks, format characters, controls, spaces, unassigned code points, surrogates and private use never appear.
So ASCII a-z -> a-z, A-Z -> A-Z, 0-9 -> 0-9, ASCII punctuation -> ASCII punctuation, é -> another Latin-1 lowercase
letter, CJK -> CJK. When the block has no other member of the class the fallback is: upper A-Z, lower a-z,
digit 0-9, other-letter a-z, emoji/symbols at U+1F000 and above the emoticons U+1F600-U+1F64F, any other symbol
ASCII punctuation. The class of a character uses the running Python's database (for base code points unknown to
Unicode 3.2, e.g. newer emoji).

Keyboard neighbours: the QWERTY keys touching a key (same row left/right, the row above and below), restricted to the
same class (a letter's neighbours are letters, a digit's digits), case kept. Characters with no such neighbour use
their uniform alphabet.
"""

from __future__ import annotations

import string
import unicodedata
from functools import cache, lru_cache

import numpy as np

_OLD = unicodedata.ucd_3_2_0
_FALLBACK = {
    "upper": string.ascii_uppercase,
    "lower": string.ascii_lowercase,
    "digit": string.digits,
    "letter": string.ascii_lowercase,
    "emoji": "".join(chr(c) for c in range(0x1F600, 0x1F650)),
    "symbol": string.punctuation,
}
_FAST = 0x300  # lookup tables cover U+0000-U+02FF; higher code points go through the cached function


def char_class(cp: int, db=unicodedata) -> str | None:
    """The class name of a base code point, or None when it can never be a replacement (spaces, marks, ...)."""
    ch = chr(cp)
    cat = db.category(ch)
    if ch.isspace() or cat[0] in "MCZ":  # marks, controls/format/unassigned/surrogates/private use, separators
        return None
    if cat in ("Lu", "Lt"):
        return "upper"
    if cat == "Ll":
        return "lower"
    if cat in ("Lo", "Lm"):
        return "letter"
    if cat == "Nd":
        return "digit"
    return "symbol"


@cache
def alphabet(cp: int) -> tuple[int, ...]:
    """Sorted code points a character whose base is `cp` may be replaced by or have inserted beside it."""
    cls = char_class(cp) or "symbol"
    block = cp & ~0x7F
    members = tuple(c for c in range(block, block + 0x80) if char_class(c, _OLD) == cls)
    if len(set(members) - {cp}) >= 1:
        return members
    if cls == "symbol" and cp >= 0x1F000:
        cls = "emoji"
    return tuple(sorted(ord(c) for c in _FALLBACK[cls]))


_ROWS = ["1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./"]
_SHIFTED = {"1": "!", "2": "@", "3": "#", "4": "$", "5": "%", "6": "^", "7": "&", "8": "*", "9": "(", "0": ")",
            "-": "_", "=": "+", "[": "{", "]": "}", ";": ":", "'": '"', ",": "<", ".": ">", "/": "?"}


def _keyboard() -> dict[str, str]:
    """QWERTY neighbours (row stagger: key j of a row touches keys j-1, j of the row above and j, j+1 below)."""
    near: dict[str, set[str]] = {}
    for r, row in enumerate(_ROWS):
        for j, key in enumerate(row):
            around = {row[i] for i in (j - 1, j + 1) if 0 <= i < len(row)}
            if r > 0:
                around |= {_ROWS[r - 1][i] for i in (j, j + 1) if 0 <= i < len(_ROWS[r - 1])}
            if r + 1 < len(_ROWS):
                around |= {_ROWS[r + 1][i] for i in (j - 1, j) if 0 <= i < len(_ROWS[r + 1])}
            near[key] = around
    out: dict[str, str] = {}
    for key, around in near.items():
        same = sorted(c for c in around if char_class(ord(c)) == char_class(ord(key)))
        out[key] = "".join(same)
        if key.isalpha():
            out[key.upper()] = "".join(sorted(c.upper() for c in same))
        elif key in _SHIFTED:
            out[_SHIFTED[key]] = "".join(sorted(_SHIFTED.get(c, c) for c in same
                                                if char_class(ord(_SHIFTED.get(c, c))) == "symbol"))
    return {k: v for k, v in out.items() if v}


KEYBOARD = _keyboard()


class Tables:
    """Flat numpy tables for vectorised sampling. A class table row is (offset, length, position of the base in its
    alphabet or -1); alphabets are concatenated in `flat`. Rows for code points below U+0300 are precomputed;
    other code points are appended on first use (order of appending never changes any result)."""

    def __init__(self) -> None:
        self._row_of: dict[tuple[int, ...], int] = {}
        self._alphabets: list[tuple[int, ...]] = []
        self.flat = np.zeros(0, dtype=np.uint32)
        self.offset = np.zeros(0, dtype=np.int64)
        self.length = np.zeros(0, dtype=np.int64)
        self.fast_row = np.array([self._row(cp) for cp in range(_FAST)], dtype=np.int64)
        self.fast_pos = np.array([self._pos(cp) for cp in range(_FAST)], dtype=np.int64)
        self._rebuild()
        kb = {ord(k): [ord(c) for c in v] for k, v in KEYBOARD.items()}
        self.kb_len = np.zeros(_FAST, dtype=np.int64)
        self.kb_off = np.zeros(_FAST, dtype=np.int64)
        flat: list[int] = []
        for cp in range(_FAST):
            self.kb_off[cp], self.kb_len[cp] = len(flat), len(kb.get(cp, ()))
            flat.extend(kb.get(cp, ()))
        self.kb_flat = np.array(flat, dtype=np.uint32)

    def _row(self, cp: int) -> int:
        alpha = alphabet(cp)
        if alpha not in self._row_of:
            self._row_of[alpha] = len(self._alphabets)
            self._alphabets.append(alpha)
        return self._row_of[alpha]

    @staticmethod
    def _pos(cp: int) -> int:
        alpha = alphabet(cp)
        return alpha.index(cp) if cp in alpha else -1

    def _rebuild(self) -> None:
        lengths = [len(a) for a in self._alphabets]
        self.length = np.array(lengths, dtype=np.int64)
        self.offset = np.cumsum(self.length) - self.length
        self.flat = np.array([c for a in self._alphabets for c in a], dtype=np.uint32)

    def lookup(self, cps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(alphabet row, position of the code point in it or -1) for each base code point."""
        cps = np.asarray(cps, dtype=np.int64)
        fast = cps < _FAST
        rows = self.fast_row[np.where(fast, cps, 0)]
        pos = self.fast_pos[np.where(fast, cps, 0)]
        slow = np.flatnonzero(~fast)
        if len(slow):
            before = len(self._alphabets)
            for i in slow:
                rows[i], pos[i] = self._row(int(cps[i])), self._pos(int(cps[i]))
            if len(self._alphabets) != before:
                self._rebuild()
        return rows, pos


@lru_cache(maxsize=1)
def tables() -> Tables:
    return Tables()
