"""Aggregation: validated result records → a `Report` of per-condition estimates. Pure: no I/O, no formatting.

Rows ("arms") are (dataset, model, recipe, variant); the variant is a short hash of the model options, the training
config and the dataset fingerprint, so records trained differently are never pooled into one row. Its label shows
the hash only when one model + recipe has several variants. Columns are noise conditions (name, rate, options hash).

Per cell (arm × noisy condition), for each metric in METRICS:
- seeds are paired: a seed counts only when the arm has an ok clean record AND an ok noisy record for it (the same
  trained model); clean, noisy and drop are all estimated over exactly those paired seeds, so noisy = clean - drop.
- drop = clean - noisy per seed, then `stats.paired_drop` (positive = the noise costs accuracy).
- expected seeds = every seed with any record of the arm (any condition, any status). status is "ok" (all expected
  seeds paired), "partial" (some), "failed" (none paired and at least one failed noisy run) or "missing" (not run,
  or no clean result to pair with).
The row's clean estimate uses every ok clean seed of the arm.

Most robust (per dataset, noise condition and metric): among cells with at least one paired seed, the cell with the
smallest drop is marked only when it and every other cell have an interval and its upper bound lies strictly below
every other cell's lower bound (non-overlapping intervals). Ties, a single competitor, or any overlap: no mark.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from noisebench.errors import UsageError
from noisebench.report import stats
from noisebench.store.records import CLEAN, rate_key, rate_text, short_hash

METRICS = ("accuracy", "macro_f1")
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1"}
CI_METHODS = stats.METHODS


@dataclass(frozen=True)
class Settings:
    """How estimates are computed and which metric the human-readable formats show."""

    metric: str = "accuracy"
    ci: str = "t"
    level: float = 0.95
    bootstrap_seed: int = stats.DEFAULT_BOOTSTRAP_SEED
    resamples: int = stats.DEFAULT_RESAMPLES
    compare: str | None = None  # reference model for pairwise comparisons (see report.compare)
    compare_test: str = "paired"  # "paired" (by seed, the design's default) | "welch" (unpaired designs)
    mcnemar: bool = False

    @property
    def needs_predictions(self) -> bool:
        """Per-example predictions are read only when something uses them (they dominate loading time)."""
        return self.ci == "hierarchical" or self.compare is not None


@dataclass(frozen=True, order=True)
class Arm:
    dataset: str
    model: str
    recipe: str
    variant: str
    label: str = field(compare=False)


@dataclass(frozen=True, order=True)
class Noise:
    name: str
    rate: float | tuple[float, ...]  # a composition "a+b" has one part per noise
    variant: str
    label: str = field(compare=False)


@dataclass
class Row:
    """One arm's clean results and training cost."""

    arm: Arm
    expected: list[int]
    clean_ok: list[int]
    clean_failed: list[int]
    clean: dict[str, stats.Estimate | None]
    train_seconds: stats.Estimate | None
    trainable_params: int | None
    total_params: int | None
    at_chance: list[int] = field(default_factory=list)  # seeds whose clean accuracy is not above the majority rate
    majority_rate: float | None = None

    @property
    def status(self) -> str:
        return _status(len(self.clean_ok), len(self.expected), len(self.clean_failed))


@dataclass
class Cell:
    arm: Arm
    noise: Noise
    status: str
    expected: list[int]
    paired: list[int]
    failed: list[int]
    estimates: dict[str, dict[str, stats.Estimate | None]]  # metric → {"clean", "noisy", "drop"}
    drops: dict[str, np.ndarray]  # metric → per-seed drops [len(paired)], in `paired` order
    realized: dict[str, stats.Estimate | None]  # "unit_fraction", "edit_ratio", "unit_fraction_visible"
    most_robust: dict[str, bool]
    truncation: dict[str, float] | None = None  # mean over paired seeds: truncated_fraction, visible_fraction
    patches: dict[str, stats.Estimate | None] | None = None  # BLT only: each patch-stability measure over seeds

    @property
    def missing(self) -> list[int]:
        return sorted(set(self.expected) - set(self.paired) - set(self.failed))


@dataclass
class Report:
    settings: Settings
    rows: list[Row]
    noises: dict[str, list[Noise]]  # dataset → noisy conditions, sorted
    cells: dict[tuple[Arm, Noise], Cell]
    realized: dict[tuple[str, Noise], stats.Estimate | None]  # (dataset, noise) → mean unit fraction, all arms
    filters: dict[str, list[str]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    test_sizes: dict[str, int] = field(default_factory=dict)  # dataset → test-set size n
    comparisons: dict | None = None
    # (dataset, composition) → the mean unit fraction of each part, measured against the text that part was given
    realized_steps: dict[tuple[str, Noise], list[stats.Estimate | None]] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        return sorted({row.arm.dataset for row in self.rows})

    _by_dataset: dict[str, tuple[list[Row], list[Cell]]] | None = field(default=None, init=False, repr=False,
                                                                         compare=False)

    def _of(self, dataset: str) -> tuple[list[Row], list[Cell]]:
        """One dataset's rows and cells, indexed once (a report of many datasets asks for each dataset's)."""
        if self._by_dataset is None:
            index: dict[str, tuple[list[Row], list[Cell]]] = {}
            for row in self.rows:
                index.setdefault(row.arm.dataset, ([], []))[0].append(row)
            for (arm, _), cell in self.cells.items():
                index.setdefault(arm.dataset, ([], []))[1].append(cell)
            self._by_dataset = index
        return self._by_dataset.get(dataset, ([], []))

    def rows_of(self, dataset: str) -> list[Row]:
        return self._of(dataset)[0]

    def cells_of(self, dataset: str) -> list[Cell]:
        return self._of(dataset)[1]

    def across_datasets(self) -> list[dict]:
        """Per model (its label) and noise, the mean drop over the noise's rates on each dataset, side by side:
        [{"model", "noise", "drops": {dataset: mean drop (fraction) or None}}], in the report's model and noise
        order. Empty with fewer than two datasets. A dataset where some rate has no estimate gets None."""
        datasets = self.datasets
        if len(datasets) < 2:
            return []
        parts: dict[tuple[str, str], dict[str, list]] = {}  # (model, noise) → dataset → drops over its rates
        for row in self.rows:
            for noise in self.noises.get(row.arm.dataset, []):
                drop = self.cells[(row.arm, noise)].estimates[self.settings.metric]["drop"]
                parts.setdefault((row.arm.label, noise.label), {}).setdefault(row.arm.dataset, []).append(
                    None if drop is None else drop.point)
        return [{"model": model, "noise": noise,
                 "drops": {ds: (sum(v) / len(v) if None not in (v := by_ds.get(ds, [None])) else None)
                           for ds in datasets}}
                for (model, noise), by_ds in parts.items()]

    def sensitivity(self, dataset: str) -> dict | None:
        """What this dataset's test size and seeds can resolve, for the report's metric: n; one accuracy's 95%
        half-width at the mean clean accuracy; and the smallest paired drop detectable at 80% power (t over the
        seeds, with the median per-seed sd of this dataset's drops). None when nothing is estimated."""
        n = self.test_sizes.get(dataset)
        m = self.settings.metric
        cleans = [e.point for row in self.rows_of(dataset) if (e := row.clean[m]) is not None]
        if not n or not cleans:
            return None
        p = sum(cleans) / len(cleans)
        drops = [(d.sd, len(c.paired)) for c in self.cells_of(dataset)
                 if (d := c.estimates[m]["drop"]) is not None and d.sd is not None]
        out = {"n": n, "accuracy": p, "half_width": stats.accuracy_half_width(p, n, self.settings.level),
               "sd": None, "seeds": None, "mde": None}
        if drops:
            sds, seeds = sorted(s for s, _ in drops), sorted(k for _, k in drops)
            sd, k = sds[len(sds) // 2], seeds[len(seeds) // 2]
            out.update(sd=sd, seeds=k, mde=stats.min_detectable_drop(sd, k, self.settings.level))
        return out


def _status(ok: int, expected: int, failed: int) -> str:
    if ok and ok == expected:
        return "ok"
    if ok:
        return "partial"
    return "failed" if failed else "missing"


_HASHES: dict[str, str] = {}


def _variant(obj) -> str:
    """short_hash(obj, 8), memoised on repr(obj): a report hashes the same few option sets ~10^4 times. The memo key
    only saves work — the value is always the canonical (key-order independent) hash."""
    key = repr(obj)
    if key not in _HASHES:
        _HASHES[key] = short_hash(obj, 8)
    return _HASHES[key]


ArmKey = tuple[str, str, str, str]  # (dataset, model, recipe, variant)
NoiseKey = tuple[str, "float | tuple[float, ...]", str]  # (name, rate, options variant)


def arm_of(record: dict) -> ArmKey:
    """(dataset, model, recipe, variant) of a record; variant hashes what else changes the trained model."""
    variant = _variant({
        "options": record["model"]["options"],
        "training": record["training"]["config"],
        "fingerprint": record["dataset"]["fingerprint"],
    })
    return record["dataset"]["name"], record["model"]["name"], record["model"]["recipe"], variant


def noise_of(record: dict) -> NoiseKey:
    noise = record["noise"]
    rate = noise["rate"]  # a float rate is its own key (10^5 records per report: skip rate_key's checks)
    return noise["name"], rate if type(rate) is float else rate_key(rate), _variant(noise["options"])


def record_keys(records: list[dict]) -> list[tuple[ArmKey, NoiseKey | None]]:
    """(arm_of, noise_of or None for the clean condition) of each record, computed once per report. Records read
    from one unit's index share their model, training and dataset sections (report.loading), so arms are memoised
    on those objects' identities — valid here, where every record (hence every id) stays alive."""
    arms: dict[tuple[int, int, int], ArmKey] = {}
    out: list[tuple[ArmKey, NoiseKey | None]] = []
    for rec in records:
        shared = (id(rec["model"]), id(rec["training"]), id(rec["dataset"]))
        arm = arms.get(shared)
        if arm is None:
            arm = arms[shared] = arm_of(rec)
        out.append((arm, None if rec["noise"]["name"] == CLEAN else noise_of(rec)))
    return out


def created_of(record: dict) -> str:
    """When a record was written (ISO 8601; "" when unknown): kept in report summaries as "created"."""
    value = record.get("created") or (record.get("provenance") or {}).get("created")
    return value if isinstance(value, str) else ""


def _catalogue_order(key: NoiseKey) -> tuple:
    """Noises in the catalogue's order (`noisebench noises`, the run's summary, the README), then rate; names
    outside the registry after them, by name."""
    from noisebench.noise import NOISES

    names = NOISES.names()
    return (names.index(key[0]) if key[0] in names else len(names), key[0], key[1], key[2])


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class _Estimator:
    """Builds estimates with the report's settings; bootstrap generators are keyed by what is estimated.

    With ci "hierarchical", accuracy estimates come from per-example correctness (`examples`); values that exist only
    per seed (macro-F1, realized levels, training time) keep Student's t, and each Estimate says which method made it.
    """

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.hierarchical = settings.ci == "hierarchical"
        self.seed_method = "t" if self.hierarchical else settings.ci
        # keys seed the bootstrap's generators; Student's t ignores them, so cells need not format them
        self.keyed = settings.ci != "t"
        # t intervals depend on the values alone: one arm's clean values recur in each of its ~20 cells
        self._t_means: dict[tuple, stats.Estimate] | None = {} if self.seed_method == "t" else None
        # t estimates are made empty and computed together by `finish` (stats.t_intervals): ~10^5 per report
        self._pending: list[tuple[stats.Estimate, list]] = []

    def _rng(self, key: str):
        return stats.bootstrap_rng(key, self.s.bootstrap_seed) if self.seed_method == "bootstrap" else None

    def mean(self, values, key: str) -> stats.Estimate:
        """`stats.mean_ci` of `values` by the report's seed method. A t estimate is filled in by `finish`: until
        then it holds no numbers, so `build` calls `finish` before anything reads them."""
        if self._t_means is not None and type(values) is list:
            memo = tuple(values)
            if (hit := self._t_means.get(memo)) is None:
                if not values:
                    raise ValueError("values is empty: no estimate")
                hit = self._t_means[memo] = stats.Estimate(math.nan, None, None, self.s.level, "t", len(values))
                self._pending.append((hit, values))
            return hit
        return stats.mean_ci(values, self.s.level, self.seed_method, self._rng(key), self.s.resamples)

    def finish(self) -> None:
        """Compute every t estimate made so far, all at once."""
        pending, self._pending = self._pending, []
        computed = stats.t_intervals([values for _, values in pending], self.s.level)
        for (e, _), (point, low, high, sd) in zip(pending, computed, strict=True):
            e.point, e.low, e.high, e.sd = point, low, high, sd

    def drop(self, diffs: list[float], key: str) -> stats.Estimate:
        """`stats.paired_drop` of clean and noisy, given their per-seed differences clean - noisy (the same
        estimate: paired_drop is mean_ci of those differences)."""
        return self.mean(diffs, key)

    def examples(self, per_seed: list[np.ndarray], key: str) -> stats.Estimate:
        return stats.hierarchical_bootstrap(per_seed, self.s.level, stats.bootstrap_rng(key, self.s.bootstrap_seed),
                                            self.s.resamples)


def correctness(record: dict) -> dict:
    """example id → 1.0 (correct) / 0.0 from a record's stored predictions; UsageError when it has none."""
    pred = record.get("predictions")
    if not (isinstance(pred, dict) and pred.get("ids")):
        raise UsageError(f"--ci hierarchical needs per-example predictions, and the record {record['id']} "
                         f"({record['model']['name']}, {record['noise']['name']}, seed {record['seed']}) has none")
    return {i: float(p == lab) for i, lab, p in zip(pred["ids"], pred["labels"], pred["predicted"], strict=True)}


def _per_example(seeds, clean_by_seed: dict, noisy_by_seed: dict | None = None) -> tuple[list, list, list]:
    """Per seed, over the examples both records hold: (clean correctness, noisy correctness, clean - noisy)."""
    cleans, noisys, drops = [], [], []
    for s in seeds:
        c = correctness(clean_by_seed[s])
        if noisy_by_seed is None:
            cleans.append(np.array(list(c.values())))
            continue
        z = correctness(noisy_by_seed[s])
        ids = [i for i in c if i in z]
        cv, zv = np.array([c[i] for i in ids]), np.array([z[i] for i in ids])
        cleans.append(cv)
        noisys.append(zv)
        drops.append(cv - zv)
    return cleans, noisys, drops


def _labels(keys, group, name) -> dict:
    """Display labels: `name(key)`, plus ' #variant' where one name has several variants within its group."""
    variants = defaultdict(set)
    for key in keys:
        variants[(group(key), name(key))].add(key[-1])
    return {k: name(k) + (f" #{k[-1]}" if len(variants[(group(k), name(k))]) > 1 else "") for k in keys}


UNVERSIONED = "unversioned (written before 0.2)"


def _code_versions(record: dict) -> tuple[tuple[str, str] | None, tuple | None]:
    """(training code + weights, noise implementations) of a record as hashable values; None, None when it has no
    versions block. Shown by `_code_text` and `_noise_text`."""
    v = record.get("versions")
    if not isinstance(v, dict):
        return None, None
    return (str(v.get("training")), str(v.get("model"))), tuple(sorted((v.get("noise") or {}).items()))


def _code_text(code: tuple[str, str] | None) -> str:
    return UNVERSIONED if code is None else f"training v{code[0]}, weights {code[1]}"


def _noise_text(noise: tuple | None) -> str:
    return UNVERSIONED if noise is None else ", ".join(f"{n} v{k}" for n, k in noise) or "-"


def version_conflicts(records: list[dict], keys: list[tuple[ArmKey, NoiseKey | None]]) -> list[str]:
    """Where records that a report would pool were computed by different code: an arm (model, recipe, options,
    training config, dataset) whose records differ in training-code version or weights, or a condition whose
    seeds differ in noise-implementation versions. One line per conflict; [] when everything agrees. `keys`: the
    records' `record_keys`."""
    versions = [_code_versions(rec) for rec in records]
    # Counted flat, in C (Counter over an iterable), then grouped: the distinct (arm, version) pairs are few.
    arms: dict[tuple, Counter] = defaultdict(Counter)
    for (arm, code), n in Counter((arm, code) for (arm, _), (code, _) in zip(keys, versions, strict=True)).items():
        arms[arm][code] = n
    cells: dict[tuple, Counter] = defaultdict(Counter)
    for (arm, noise_key, noise), n in Counter((arm, noise_key, noise) for (arm, noise_key), (_, noise)
                                              in zip(keys, versions, strict=True) if noise_key is not None).items():
        cells[(arm, noise_key)][noise] = n
    out = []
    for (ds, model, recipe, _), seen in arms.items():
        if len(seen) > 1:
            counts = sorted((_code_text(code), n) for code, n in seen.items())
            out.append(f"{ds} · {model} ({recipe}): " + " vs ".join(f"{v} ({n} records)" for v, n in counts))
    for ((ds, model, recipe, _), (name, rate, _)), seen in cells.items():
        if len(seen) < 2:  # one version: nothing to compare (two can still read alike, e.g. 1 and "1")
            continue
        by_noise: Counter[str] = Counter()  # by text, as shown
        for noise, n in seen.items():
            by_noise[_noise_text(noise)] += n
        if len(by_noise) > 1:
            out.append(f"{ds} · {model} ({recipe}) · {name}@{rate_text(rate)}: "
                       + " vs ".join(f"{v} ({n} records)" for v, n in sorted(by_noise.items())))
    return out


_PLAIN = (int, str)  # the types versions are written in


def _versions_agree(clean: dict, noisy: dict) -> bool:
    """A fast sufficient condition for `version_conflicts` to find nothing, over `build`'s grouping (a few
    comparisons per record instead of a hashed key): per arm, every record's training version and weights equal the
    first record's as values of one plain type (int or str: equal values are then shown alike); per cell, every
    seed's noise versions are equal (==, as `version_conflicts` counts them). False only means "look closer":
    any other type, an unversioned record (0.1) or any difference sends the caller to `version_conflicts`."""
    for arm in clean.keys() | noisy.keys():
        first = None  # the arm's first record's versions
        for cell, by_seed in enumerate([clean.get(arm, {}), *noisy.get(arm, {}).values()]):
            cell_noise = None  # the cell's first seed's noise versions (cell 0, the clean records, has none)
            for rec in by_seed.values():
                v = rec.get("versions")
                if type(v) is not dict:
                    return False
                t, m = v.get("training"), v.get("model")
                if first is None:
                    if type(t) not in _PLAIN or type(m) not in _PLAIN:
                        return False
                    first = v
                elif not (t == first["training"] and m == first["model"]
                          and type(t) is type(first["training"]) and type(m) is type(first["model"])):
                    return False
                if cell:
                    noise = v.get("noise") or {}
                    if type(noise) is not dict:
                        return False
                    if cell_noise is None:
                        cell_noise = noise
                    elif noise != cell_noise:
                        return False
    return True


def _refuse_mixed_versions(records: list[dict], keys: list[tuple[ArmKey, NoiseKey | None]], clean: dict,
                           noisy: dict, collided: bool) -> None:
    """UsageError naming the conflicts (`version_conflicts`) when records to be pooled come from different code.
    `keys`: the records' `record_keys`; `clean` and `noisy` are build's grouping; `collided`: whether some cell and seed had two records (one of them
    is then not in the grouping, so the fast check would not see it)."""
    if not collided and _versions_agree(clean, noisy):
        return
    conflicts = version_conflicts(records, keys)
    if conflicts:
        more = f"; and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
        raise UsageError("cannot pool results computed by different code versions: " + "; ".join(conflicts[:3])
                         + more + ". `noisebench report --current` reports only the records of this code (older "
                         "ones are never reused: `noisebench run` with the same options recomputes them), or move "
                         "the older records out of the results directory")


def build(records: list[dict], settings: Settings, filters: dict[str, list[str]] | None = None) -> Report:
    """Aggregate already-filtered, validated records into a Report (see the module docstring for the rules).
    Records computed by different code versions are never pooled: a UsageError names them (`version_conflicts`)."""
    est = _Estimator(settings)
    clean: dict[ArmKey, dict[int, dict]] = defaultdict(dict)  # arm key → seed → clean record
    noisy: dict[ArmKey, dict[NoiseKey, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))  # arm → noise → seed
    # Models in the order the run named them (the run writes a model's records before the next model's, so the
    # first record of each arm gives that order); records written at the same time fall back to the names.
    first: dict[ArmKey, str] = {}
    keyed = record_keys(records)
    collided = False
    for rec, (arm_key, noise_key) in zip(records, keyed, strict=True):
        created = rec.get("created")
        if not (type(created) is str and created):
            created = created_of(rec)
        earliest = first.get(arm_key)
        if earliest is None or created < earliest:
            first[arm_key] = created
        by_seed = clean[arm_key] if noise_key is None else noisy[arm_key][noise_key]
        # Two records of one cell and seed differ in their versions (the rest of their identity is the same)
        collided = collided or rec["seed"] in by_seed
        by_seed[rec["seed"]] = rec
    _refuse_mixed_versions(records, keyed, clean, noisy, collided)
    arm_keys = sorted(set(clean) | set(noisy), key=lambda k: (k[0], first.get(k, ""), k))
    arm_label = _labels(arm_keys, lambda k: k[0], lambda k: f"{k[1]} ({k[2]})")
    arms = {k: Arm(k[0], k[1], k[2], k[3], label=arm_label[k]) for k in arm_keys}
    noise_keys_by_ds: dict[str, set[NoiseKey]] = defaultdict(set)
    for arm_key, by_noise in noisy.items():
        noise_keys_by_ds[arm_key[0]].update(by_noise)
    noises: dict[str, list[Noise]] = {}
    for ds, keys in noise_keys_by_ds.items():
        labels = _labels(sorted(keys), lambda k: "", lambda k: k[0])  # grouped per dataset already
        noises[ds] = [Noise(k[0], k[1], k[2], label=labels[k]) for k in sorted(keys, key=_catalogue_order)]

    rows: list[Row] = []
    cells: dict[tuple[Arm, Noise], Cell] = {}
    for arm_key in arm_keys:
        arm = arms[arm_key]
        by_seed = clean.get(arm_key, {})
        seeds_seen = set(by_seed)
        for by_noise_seed in noisy.get(arm_key, {}).values():
            seeds_seen.update(by_noise_seed)
        expected = sorted(seeds_seen)
        ok_clean = {s: r for s, r in by_seed.items() if r["status"] == "ok"}
        rows.append(_row(arm, expected, by_seed, ok_clean, noisy.get(arm_key, {}), est))
        clean_metrics = {m: {s: r["metrics"][m] for s, r in ok_clean.items()} for m in METRICS}
        arm_noisy = noisy.get(arm_key, {})
        for noise in noises.get(arm.dataset, []):
            runs = arm_noisy.get((noise.name, noise.rate, noise.variant), {})
            cells[(arm, noise)] = _cell(arm, noise, expected, ok_clean, clean_metrics, runs, est)

    # The header's realized level: mean unit fraction over every ok noisy record of the condition (all arms, seeds).
    realized, realized_steps = {}, {}
    noisy_by_ds: dict[str, list] = defaultdict(list)  # dataset → its arms' {noise → seed → record}
    for arm_key, by_noise in noisy.items():
        noisy_by_ds[arm_key[0]].append(by_noise)
    for ds, ds_noises in noises.items():
        for noise in ds_noises:
            ok_records = []
            for by_noise in noisy_by_ds[ds]:
                by_seed = by_noise.get((noise.name, noise.rate, noise.variant), {})
                ok_records += [by_seed[s] for s in sorted(by_seed) if by_seed[s]["status"] == "ok"]
            fractions = [v for r in ok_records if (v := _number((r.get("realized") or {}).get("unit_fraction")))
                         is not None]
            key = f"realized|{ds}|{noise.name}|{noise.rate!r}|{noise.variant}"
            realized[(ds, noise)] = est.mean(fractions, key) if fractions else None
            if isinstance(noise.rate, tuple):
                realized_steps[(ds, noise)] = _step_levels(ok_records, len(noise.rate), est, key)
    est.finish()  # every t estimate above gets its numbers
    _mark_most_robust(rows, noises, cells)
    sizes: dict[str, int] = {}  # dataset → n of its last record that has one
    seen: set[int] = set()  # records of one unit share their dataset section: look at each once
    for rec in reversed(records):
        if id(section := rec["dataset"]) not in seen:
            seen.add(id(section))
            if isinstance(n := section.get("n"), int) and section["name"] not in sizes:
                sizes[section["name"]] = n
    return Report(settings, rows, noises, cells, realized, filters or {}, test_sizes=sizes,
                  realized_steps=realized_steps)


def _step_levels(ok_records: list[dict], parts: int, est: _Estimator, key: str) -> list[stats.Estimate | None]:
    """A composition's per-part realized levels: the mean over its records of each part's unit fraction."""
    out = []
    for i in range(parts):
        values = [v for r in ok_records
                  if len(steps := (r.get("realized") or {}).get("steps") or []) == parts
                  and (v := _number(steps[i].get("unit_fraction"))) is not None]
        out.append(est.mean(values, f"{key}|step{i}") if values else None)
    return out


REALIZED_FIELDS = ("unit_fraction", "edit_ratio", "unit_fraction_visible")


def _realized_values(seeds, by_seed: dict[int, dict]) -> dict[str, list[float]]:
    """Per REALIZED_FIELDS name, the seeds' numeric values of it (seeds without one are left out)."""
    out: dict[str, list[float]] = {name: [] for name in REALIZED_FIELDS}
    for s in seeds:
        if realized := by_seed[s].get("realized"):
            for name, values in out.items():
                value = realized.get(name)
                if type(value) is float or (value := _number(value)) is not None:  # floats: the common case, first
                    values.append(value)
    return out


def _row(arm: Arm, expected, by_seed, ok_clean, noisy_by_noise, est: _Estimator) -> Row:
    key = f"{arm.dataset}|{arm.model}|{arm.recipe}|{arm.variant}|clean"
    clean_est = {
        m: est.mean([ok_clean[s]["metrics"][m] for s in sorted(ok_clean)], f"{key}|{m}") if ok_clean else None
        for m in METRICS
    }
    if est.hierarchical and ok_clean:
        clean_est["accuracy"] = est.examples(_per_example(sorted(ok_clean), ok_clean)[0], f"{key}|accuracy")
    # Training cost belongs to the trained model (one per seed): prefer the clean record, else any record of the seed.
    training_by_seed: dict[int, dict] = {}
    for by_noise_seed in noisy_by_noise.values():
        for s, rec in by_noise_seed.items():
            training_by_seed.setdefault(s, rec["training"])
    training_by_seed.update({s: rec["training"] for s, rec in by_seed.items()})
    seconds = [v for s in sorted(training_by_seed) if (v := _number(training_by_seed[s].get("seconds"))) is not None]
    trainable = Counter(t["trainable_params"] for t in training_by_seed.values() if isinstance(t.get("trainable_params"), int))
    total = Counter(t["total_params"] for t in training_by_seed.values() if isinstance(t.get("total_params"), int))
    at_chance = sorted(s for s, r in ok_clean.items()
                       if (p := _number(r["metrics"].get("p_above_majority"))) is not None and p > stats.ABOVE_CHANCE_ALPHA)
    majority = [v for r in ok_clean.values() if (v := _number(r["metrics"].get("majority_rate"))) is not None]
    return Row(
        at_chance=at_chance,
        majority_rate=max(majority) if majority else None,
        arm=arm,
        expected=expected,
        clean_ok=sorted(ok_clean),
        clean_failed=sorted(s for s, r in by_seed.items() if r["status"] == "failed"),
        clean=clean_est,
        train_seconds=est.mean(seconds, f"{key}|seconds") if seconds else None,
        trainable_params=trainable.most_common(1)[0][0] if trainable else None,
        total_params=total.most_common(1)[0][0] if total else None,
    )


def _cell(arm: Arm, noise: Noise, expected, ok_clean, clean_metrics: dict[str, dict], by_seed,
          est: _Estimator) -> Cell:
    """One arm × noisy condition. `clean_metrics`: metric → {seed: value} over `ok_clean` (the arm's ok clean
    records), made once per arm. Bootstrap keys are formatted only for the methods that use them (`key and …`)."""
    ok_noisy = {s: r for s, r in by_seed.items() if r["status"] == "ok"}
    failed = sorted(s for s, r in by_seed.items() if r["status"] == "failed")
    key = (f"{arm.dataset}|{arm.model}|{arm.recipe}|{arm.variant}|{noise.name}|{noise.rate!r}|{noise.variant}"
           if est.keyed else "")
    estimates: dict[str, dict[str, stats.Estimate | None]] = {}
    drops: dict[str, np.ndarray] = {}
    # seeds paired once for every metric: a seed counts when it has an ok clean and an ok noisy record
    paired = sorted(ok_clean.keys() & ok_noisy.keys())
    for m in METRICS:
        clean_m = clean_metrics[m]
        c = [float(clean_m[s]) for s in paired]
        z = [float(ok_noisy[s]["metrics"][m]) for s in paired]
        diffs = [a - b for a, b in zip(c, z, strict=True)]
        drops[m] = np.array(diffs)
        if paired and est.hierarchical and m == "accuracy":
            cleans, noisys, per_example = _per_example(paired, ok_clean, ok_noisy)
            estimates[m] = {
                "clean": est.examples(cleans, f"{key}|{m}|clean"),
                "noisy": est.examples(noisys, f"{key}|{m}|noisy"),
                "drop": est.examples(per_example, f"{key}|{m}|drop"),
            }
        elif paired:
            estimates[m] = {
                "clean": est.mean(c, key and f"{key}|{m}|clean"),
                "noisy": est.mean(z, key and f"{key}|{m}|noisy"),
                "drop": est.drop(diffs, key and f"{key}|{m}|drop"),
            }
        else:
            estimates[m] = {"clean": None, "noisy": None, "drop": None}
    realized = {name: est.mean(values, key and f"{key}|realized|{name}") if values else None
                for name, values in _realized_values(paired, ok_noisy).items()}
    cuts = [t for s in paired if isinstance(t := ok_noisy[s].get("truncation"), dict)]
    truncation = {k: sum(float(t[k]) for t in cuts) / len(cuts) for k in ("truncated_fraction", "visible_fraction")
                  } if cuts and all(isinstance(t.get("truncated_fraction"), (int, float)) for t in cuts) else None
    stored = [p for s in paired if isinstance(p := ok_noisy[s].get("patches"), dict)]
    patches = None
    if stored and len(stored) == len(paired):  # BLT records (noisebench.models.patching); a mix is not averaged
        patches = {name: est.mean([float(p[name]) for p in stored], key and f"{key}|patches|{name}")
                   if all(_number(p.get(name)) is not None for p in stored) else None for name in stored[0]}
    return Cell(
        arm=arm,
        noise=noise,
        status=_status(len(paired), len(expected), len(failed)),
        expected=expected,
        paired=paired,
        failed=failed,
        estimates=estimates,
        drops=drops,
        realized=realized,
        most_robust={m: False for m in METRICS},
        truncation=truncation,
        patches=patches,
    )


def _mark_most_robust(rows: list[Row], noises: dict[str, list[Noise]], cells) -> None:
    arms_by_ds: dict[str, list[Arm]] = defaultdict(list)
    for row in rows:
        arms_by_ds[row.arm.dataset].append(row.arm)
    for ds, ds_noises in noises.items():
        arms = arms_by_ds[ds]
        for noise in ds_noises:
            for m in METRICS:
                contenders = [cells[(a, noise)] for a in arms if cells[(a, noise)].estimates[m]["drop"] is not None]
                if len(contenders) < 2:
                    continue
                contenders.sort(key=lambda c: c.estimates[m]["drop"].point)
                best, others = contenders[0], contenders[1:]
                if all(stats.intervals_separate(best.estimates[m]["drop"], o.estimates[m]["drop"]) for o in others):
                    best.most_robust[m] = True
