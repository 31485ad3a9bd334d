"""noisebench's seeded perturbation engine: one registry of noises, rate-exact and order-invariant.

Public API
    NOISES                      Registry[NoiseSpec] of all noises (name, unit, rate_meaning, protects, calibrated,
                                options); unknown names raise a UsageError with a did-you-mean.
    validate_rate(rate)         float in [0, 1] or UsageError.
    validate_options(noise, o)  normalised options (defaults filled in) or UsageError.
    perturb(text, *, noise, rate, seed, key, **options) -> str
    perturb_batch(texts, keys, *, noise, rate, seed, **options) -> list[str]
    perturb_chain(text, steps, *, seed, key) / perturb_chain_batch(texts, keys, steps, *, seed)
                                several noises in order (steps: Step(noise, rate, options) or (noise, rate[, options]));
                                a later step never edits what an earlier one wrote. perturb_chain_steps: the texts
                                after every step.
    composition(name) / composed_steps(name, rates, options)
                                "casing+substitute" as its parts / as chain steps (the CLI's `--noise a+b
                                --rate 1.0+0.05`).
    measure(clean, noisy, *, noise, **options) -> Realized
    measure_dataset(cleans, noisys, *, noise, **options) -> Realized

Determinism. A noisy text depends only on (text, noise, rate, seed, example key, options) — never on the batch it is
in, the order of the batch, the number of processes, or PYTHONHASHSEED. Each example's randomness comes from

    key64 = int.from_bytes(blake2b(json.dumps(["noisebench.noise/1", seed, noise, float(rate), options, key],
                                              sort_keys=True, separators=(",", ":"), ensure_ascii=True)
                                   .encode("utf-8"), digest_size=8).digest(), "little")

with `options` the normalised options; every draw is then a counter-based splitmix64 value of key64 (see
`noisebench.noise.rng` for the streams), so a batch is computed at once with numpy and `perturb` is simply a batch of
one. The dataset loader supplies keys (the id column, or the sha256 of the text); the CLI's default key is the
sha256 hex digest of the text's UTF-8 bytes.

Rates. Any rate in [0, 1]; rate 0 returns the text unchanged. A noise's units are counted in the clean text; k =
floor(rate * n + u) units are edited, with u ~ U[0, 1) from the example's generator (stochastic rounding: exact in
expectation, never off by one unit or more). Each noise's NoiseSpec.rate_meaning states its exact rule.

Protected spans. Placeholders already in a text — [**...**], [NAME]-style all-caps bracket tags, *** — are never
edited and count as no unit; in a chain, neither is anything an earlier noise wrote. Text outside an edit is left
byte for byte (no re-tokenisation, no whitespace normalisation); empty and whitespace-only texts come back unchanged.

Adding a noise: write `apply(request) -> (texts, spans)` in a module here and register a NoiseSpec in it; import the
module below. The contract tests parametrize over NOISES, so it is tested from the start.
"""

# isort: off
# Registration, in catalogue order: character noises, then word/span noises, then the nlpaug adapters.
from noisebench.noise import charnoise, wordnoise, misspell, abbreviation, phi, nlpaug_adapter  # noqa: F401
# isort: on
from noisebench.noise.engine import (
    NOISES,
    NoiseSpec,
    Step,
    composed_steps,
    composition,
    example_keys,
    perturb,
    perturb_batch,
    perturb_chain,
    perturb_chain_batch,
    perturb_chain_steps,
    validate_options,
    validate_rate,
)
from noisebench.noise.measure import Realized, measure, measure_dataset

__all__ = [
    "NOISES",
    "NoiseSpec",
    "Realized",
    "Step",
    "composed_steps",
    "composition",
    "example_keys",
    "measure",
    "measure_dataset",
    "perturb",
    "perturb_batch",
    "perturb_chain",
    "perturb_chain_batch",
    "perturb_chain_steps",
    "validate_options",
    "validate_rate",
]
