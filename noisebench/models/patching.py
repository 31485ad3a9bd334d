"""BLT patch-boundary stability: how the entropy patcher's boundaries move when a text is perturbed. Pure functions.

A BLT model cuts the bytes it sees (after truncation) into patches: a patch starts at the BOS, at the first byte,
and after every byte whose next-byte entropy exceeds the patcher's threshold (`blt.patch_lengths_from_entropies`).
The *boundaries* of a text are the byte offsets where an entropy-driven patch starts (offset b = the patch starts
with byte b of the text; the two fixed starts are not counted). For a clean text and its noisy copy:

- The two byte strings are aligned through the edit. Equal lengths with as many differing bytes as the edit
  distance (substitutions only, the usual case of `substitute` and `casing`): every byte keeps its place. Otherwise
  Levenshtein opcodes (`noisebench.noise.align`): bytes in unchanged stretches map one to one, and so do the bytes
  of a same-length replacement; the first byte of any other edited stretch maps to the first byte of its
  replacement, and the rest of that stretch maps nowhere. So an insertion shifts every later boundary by its length
  without a miss, and a substitution keeps every boundary where it was.
- A clean boundary is *kept* when the noisy text has a boundary where it maps. Recall = kept clean boundaries /
  clean boundaries; precision = kept / noisy boundaries (the mapping is one-to-one, so the same count); F1 their
  harmonic mean. Pooled over a test set: totals over totals (1.0 when neither side has a boundary).
- Patches per text (BOS patch included) and mean patch length (ids per patch, pooled) on each side, the mean
  change in patch count per text (noisy − clean), and the entropy shift: the pooled mean next-byte entropy (nats)
  of the noisy ids minus that of the clean ids (positive: the noise makes the patcher less certain).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MEASURES = ("boundary_precision", "boundary_recall", "boundary_f1", "patches_clean", "patches_noisy",
            "patch_count_change", "mean_patch_length_clean", "mean_patch_length_noisy", "entropy_shift")


@dataclass(frozen=True)
class PatchView:
    """What a BLT model makes of one text: the bytes it sees, their patch lengths over [BOS] + bytes, and the sum
    of the next-byte entropies over those ids (nats)."""

    data: bytes
    lengths: np.ndarray
    entropy: float

    @property
    def ids(self) -> int:
        return len(self.data) + 1


def boundaries(lengths: Sequence[int] | np.ndarray) -> list[int]:
    """Byte offsets where an entropy-driven patch starts: patch starts at id positions p >= 2, as offsets p - 1."""
    starts = np.cumsum(np.asarray(lengths, dtype=np.int64))[:-1]
    return [int(p) - 1 for p in starts if p >= 2]


def offset_map(clean: bytes, noisy: bytes) -> dict[int, int]:
    """Clean byte offset → the noisy offset it aligns with (see the module docstring); unmapped offsets absent."""
    from noisebench.noise.align import distance, opcodes

    a, b = clean.decode("latin-1"), noisy.decode("latin-1")  # one character per byte
    if len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == distance(a, b):
        return {i: i for i in range(len(a))}  # substitutions explain the pair at the least cost: nothing moved
    out: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in opcodes(a, b):
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            out.update({i1 + k: j1 + k for k in range(i2 - i1)})
        elif i2 > i1:  # a deletion or an uneven replacement: its first byte maps to where the stretch now starts
            out[i1] = j1
    return out


def matched(clean: PatchView, noisy: PatchView) -> tuple[int, int, int]:
    """(kept boundaries, clean boundaries, noisy boundaries) of one pair."""
    a, b = boundaries(clean.lengths), set(boundaries(noisy.lengths))
    where = offset_map(clean.data, noisy.data)
    return sum(where.get(x) in b for x in a), len(a), len(b)


def stability(clean: Sequence[PatchView], noisy: Sequence[PatchView]) -> dict[str, float]:
    """The pooled measures of MEASURES over a test set's (clean, noisy) pairs (see the module docstring)."""
    if len(clean) != len(noisy) or not clean:
        raise ValueError(f"stability needs as many noisy views as clean ones (and at least one): "
                         f"{len(clean)} and {len(noisy)}")
    kept = n_clean = n_noisy = 0
    for a, b in zip(clean, noisy, strict=True):
        k, x, y = matched(a, b)
        kept, n_clean, n_noisy = kept + k, n_clean + x, n_noisy + y
    precision = kept / n_noisy if n_noisy else (1.0 if not n_clean else 0.0)
    recall = kept / n_clean if n_clean else (1.0 if not n_noisy else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    patches_a = [len(v.lengths) for v in clean]
    patches_b = [len(v.lengths) for v in noisy]
    ids_a, ids_b = sum(v.ids for v in clean), sum(v.ids for v in noisy)
    return {
        "boundary_precision": precision, "boundary_recall": recall, "boundary_f1": f1,
        "patches_clean": sum(patches_a) / len(clean), "patches_noisy": sum(patches_b) / len(noisy),
        "patch_count_change": (sum(patches_b) - sum(patches_a)) / len(clean),
        "mean_patch_length_clean": ids_a / sum(patches_a), "mean_patch_length_noisy": ids_b / sum(patches_b),
        "entropy_shift": sum(v.entropy for v in noisy) / ids_b - sum(v.entropy for v in clean) / ids_a,
    }
