"""The registry, the spec every noise declares, validation at the boundary, key derivation and the batch runner.

A noise is one `apply` function plus one `NOISES.register(name, NoiseSpec(...))` line. `apply` receives a `Request`
(already validated: rate in [0, 1], options normalised, one 64-bit key per example) and returns the noisy texts —
and, when `request.track` is set, for each output the spans that later noises must not touch (the caller's protected
spans moved by the edits, plus everything this noise wrote). The engine handles rate 0 (identity), keys, batching.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from noisebench.errors import UsageError, did_you_mean
from noisebench.registry import Registry
from noisebench.store.records import COMPOSE

KEY_SCHEMA = "noisebench.noise/1"
UNITS = ("character", "word", "span")


@dataclass(frozen=True)
class Request:
    """One batch for a noise's apply function.

    texts:     the clean texts.
    keys:      (B,) uint64, the derived per-example keys (see `example_keys`).
    rate:      in [0, 1], already validated; never 0 (the engine returns rate-0 batches unchanged).
    options:   normalised options (every declared option present).
    protected: None, or for each text extra spans (code-point offsets) that must not be edited.
    track:     also return, per output text, the spans later noises must not touch.
    """

    texts: Sequence[str]
    keys: np.ndarray
    rate: float
    options: Mapping[str, str]
    protected: Sequence[Sequence[tuple[int, int]]] | None = None
    track: bool = False


Output = tuple[list[str], list[list[tuple[int, int]]] | None]


@dataclass(frozen=True)
class NoiseSpec:
    """What a noise declares when it registers.

    name:          registry name.
    unit:          "character" | "word" | "span" — what its rate counts.
    rate_meaning:  the exact rule mapping the rate to the edits made (copied into the README catalogue).
    protects:      what it never touches.
    calibrated:    True when the realized level equals the rate (exact in expectation, off by < 1 unit per text) and
                   text outside the edits is kept byte for byte with no character split from its marks; False for
                   adapters of other tools, which keep only the seeding contract and the protected spans.
    options:       option name -> {"default": str, "choices": tuple[str, ...] | None (free text), "help": str}.
    apply:         Request -> (noisy texts, protected spans per output or None).
    summary:       one line: what it does.
    check_options: optional extra validation/normalisation of option values (raises UsageError).
    requires:      an optional package `apply` needs (the registry itself never imports it).
    count_units:   (clean, noisy, options, protected=()) -> (units changed, eligible units), from the pair alone
                   (protected: spans of the clean text the noise was told not to edit, in a chain); None = the
                   character count of `noisebench.noise.measure.count_characters`.
    source:        the data a noise draws on, with provenance and licence ("" when it uses none).
    version:       the implementation's version, part of every record's identity: bump it whenever the noise's
                   output for some input changes, so that stored results of the old code are never reused or pooled.
    in_study:      one of the study's seven noises, run by `--noise all` (False for additions such as `misspell`).
    """

    name: str
    unit: str
    rate_meaning: str
    protects: str
    calibrated: bool
    options: Mapping[str, Mapping] = field(default_factory=dict)
    apply: Callable[[Request], Output] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    summary: str = ""
    check_options: Callable[[dict], dict] | None = field(default=None, repr=False, compare=False)
    requires: str | None = None
    count_units: Callable[..., tuple[int, int]] | None = field(
        default=None, repr=False, compare=False)
    source: str = ""
    version: int = 1
    in_study: bool = True

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"noise {self.name!r}: unit must be one of {UNITS}, not {self.unit!r}")
        if self.apply is None:
            raise ValueError(f"noise {self.name!r} has no apply function")


NOISES: Registry[NoiseSpec] = Registry("noise")


def register(spec: NoiseSpec) -> NoiseSpec:
    """Register a noise under its own name (one line per noise module)."""
    return NOISES.register(spec.name, spec)


def validate_rate(rate: float) -> float:
    """The rate as a float; UsageError unless it is a finite number with 0 <= rate <= 1."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise UsageError(f"rate must be a number between 0 and 1, got {rate!r}")
    value = float(rate)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise UsageError(f"rate must be between 0 and 1 (a fraction, e.g. 0.1), got {rate!r}")
    return value


def validate_options(noise: str, options: Mapping[str, object]) -> dict:
    """Check options against the noise's declaration; return them normalised (defaults filled in, declared order).

    UsageError for an unknown noise (with the list and a did-you-mean), an unknown option name, a value outside the
    allowed choices, or a value the noise's own check rejects (e.g. a malformed lexicon file)."""
    spec = NOISES.get(noise)
    declared = spec.options
    for name in options:
        if name not in declared:
            allowed = ", ".join(declared) if declared else "none"
            raise UsageError(f"noise {noise!r} has no option {name!r}{did_you_mean(str(name), declared)}; "
                             f"its options: {allowed}")
    out: dict = {}
    for name, meta in declared.items():
        value = options.get(name, meta["default"])
        if not isinstance(value, str):
            raise UsageError(f"option {name!r} of noise {noise!r} must be a string, got {value!r}")
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            raise UsageError(f"option {name}={value!r} of noise {noise!r} is not allowed"
                             f"{did_you_mean(value, choices)}; choose from: {', '.join(choices)}")
        out[name] = value
    return spec.check_options(out) if spec.check_options else out


def validate_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise UsageError(f"seed must be an integer, got {seed!r}")
    return int(seed)


def _json_string(s: str) -> str:
    """json.dumps(s, ensure_ascii=True) with a fast path for plain printable ASCII (the common key shape)."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    return json.dumps(s, ensure_ascii=True)


def example_keys(keys: Sequence[str], *, noise: str, rate: float, seed: int, options: Mapping[str, str]) -> np.ndarray:
    """The per-example 64-bit keys every random choice derives from. (B,) uint64.

    key64 = little-endian uint64 of blake2b(message, digest_size=8), with message the UTF-8 bytes of
        json.dumps(["noisebench.noise/1", seed, noise, float(rate), options, key],
                   sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    Options are the normalised ones (defaults filled in), so spelling a default out changes nothing."""
    prefix = json.dumps([KEY_SCHEMA, seed, noise, float(rate), dict(options), ""], sort_keys=True,
                        separators=(",", ":"), ensure_ascii=True)[: -len('""]')].encode("ascii")
    base = hashlib.blake2b(prefix, digest_size=8)
    digests = []
    for key in keys:
        if not isinstance(key, str):
            raise UsageError(f"example keys must be strings, got {type(key).__name__}")
        h = base.copy()
        h.update(_json_string(key).encode("ascii") + b"]")
        digests.append(h.digest())
    return np.frombuffer(b"".join(digests), dtype="<u8").astype(np.uint64)


def _check_texts(texts: Sequence[str], keys: Sequence[str]) -> None:
    if isinstance(texts, str) or isinstance(keys, str):
        raise UsageError("perturb_batch takes sequences of texts and keys, not a single string (use perturb)")
    if len(texts) != len(keys):
        raise UsageError(f"{len(texts)} texts but {len(keys)} keys: give one key per text")
    for t in texts:
        if not isinstance(t, str):
            raise UsageError(f"texts must be strings, got {type(t).__name__}")


def run(texts: Sequence[str], keys: Sequence[str], *, noise: str, rate: float, seed: int, options: Mapping,
        protected: Sequence[Sequence[tuple[int, int]]] | None = None, track: bool = False) -> Output:
    """Validate everything once, derive keys, and run the noise on the whole batch."""
    spec = NOISES.get(noise)
    rate = validate_rate(rate)
    seed = validate_seed(seed)
    opts = validate_options(noise, options)
    _check_texts(texts, keys)
    texts = list(texts)
    if rate == 0.0 or not texts:
        spans = [list(p) for p in protected] if protected is not None else [[] for _ in texts]
        return texts, (spans if track else None)
    derived = example_keys(keys, noise=noise, rate=rate, seed=seed, options=opts)
    return spec.apply(Request(texts, derived, rate, opts, protected, track))


def perturb_batch(texts: Sequence[str], keys: Sequence[str], *, noise: str, rate: float, seed: int,
                  **options: str) -> list[str]:
    """Noisy copies of `texts`; text i depends only on (texts[i], noise, rate, seed, keys[i], options)."""
    return run(texts, keys, noise=noise, rate=rate, seed=seed, options=options)[0]


def perturb(text: str, *, noise: str, rate: float, seed: int, key: str, **options: str) -> str:
    """One noisy text: exactly `perturb_batch([text], [key], ...)[0]`."""
    if not isinstance(text, str):
        raise UsageError(f"text must be a string, got {type(text).__name__}")
    return perturb_batch([text], [key], noise=noise, rate=rate, seed=seed, **options)[0]


@dataclass(frozen=True)
class Step:
    """One noise in a chain."""

    noise: str
    rate: float
    options: Mapping[str, str] = field(default_factory=dict)


def _as_step(step: Step | Sequence) -> Step:
    if isinstance(step, Step):
        return step
    if isinstance(step, (tuple, list)) and len(step) in (2, 3):
        return Step(step[0], step[1], dict(step[2]) if len(step) == 3 else {})
    raise UsageError(f"a chain step is Step(noise, rate, options) or (noise, rate[, options]), got {step!r}")


@dataclass(frozen=True)
class StepOutput:
    """One step of a chain: the texts it was given, the spans of those it had to leave alone, and its output."""

    step: Step
    given: list[str]
    protected: list[list[tuple[int, int]]]
    texts: list[str]


def perturb_chain_steps(texts: Sequence[str], keys: Sequence[str], steps: Sequence[Step | Sequence], *,
                        seed: int) -> list[StepOutput]:
    """Every step of a chain, so that each step's realized level can be measured against the text it was given
    (`measure_dataset(out.given, out.texts, noise=..., protected=out.protected)`). Each step draws from its own keys
    (its noise, rate and options with the same seed and example key), and never edits placeholders already in the
    text or anything an earlier step wrote (casing writes no new content: its lower-cased words stay editable)."""
    _check_texts(texts, keys)
    current = list(texts)
    protected: list[list[tuple[int, int]]] = [[] for _ in current]
    out = []
    for step in map(_as_step, steps):
        noisy, spans = run(current, keys, noise=step.noise, rate=step.rate, seed=seed, options=step.options,
                           protected=protected, track=True)
        out.append(StepOutput(step, current, protected, noisy))
        current, protected = noisy, spans  # type: ignore[assignment]
    return out


def perturb_chain_batch(texts: Sequence[str], keys: Sequence[str], steps: Sequence[Step | Sequence], *,
                        seed: int) -> list[str]:
    """Apply noises in order: the output of the last of `perturb_chain_steps` (the texts unchanged for no steps)."""
    done = perturb_chain_steps(texts, keys, steps, seed=seed)
    return done[-1].texts if done else list(texts)


def composition(name: str) -> list[str] | None:
    """The parts of a composed noise name ("casing+substitute" -> ["casing", "substitute"]); None for one noise.
    UsageError for an unknown or repeated part."""
    if COMPOSE not in name:
        return None
    parts = [p.strip() for p in name.split(COMPOSE)]
    for part in parts:
        if part not in NOISES:
            raise UsageError(f"in the composition {name!r}: "
                             f"unknown noise {part!r}{did_you_mean(part, NOISES.names())}")
    if len(set(parts)) != len(parts):
        raise UsageError(f"the composition {name!r} names a noise twice; give each noise once, with its own rate")
    return parts


def composed_steps(name: str, rate: Sequence[float], options: Mapping[str, Mapping[str, str]]) -> list[Step]:
    """The chain of a composed condition: one Step per part, with its rate and options, in order."""
    parts = composition(name) or [name]
    if len(rate) != len(parts):
        raise UsageError(f"the composition {name!r} has {len(parts)} noises but its rate has {len(rate)} parts")
    return [Step(p, r, dict(options.get(p, {}))) for p, r in zip(parts, rate, strict=True)]


def perturb_chain(text: str, steps: Sequence[Step | Sequence], *, seed: int, key: str) -> str:
    """One text through a chain: exactly `perturb_chain_batch([text], [key], steps, seed=seed)[0]`."""
    return perturb_chain_batch([text], [key], steps, seed=seed)[0]
