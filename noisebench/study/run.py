"""The run engine behind `noisebench run`: fine-tune once per (model, seed) on clean data, evaluate clean + noisy.

    outcome = execute(build_run_config(model="bert-tiny", noise="substitute", rate="0.1"))

Read top to bottom, for one validated `RunConfig`:

1. Load the dataset (validated at load: columns, encoding, labels) and resolve the device.
2. For every model and seed, a *training unit*: the cells it owes are the clean test set plus every requested
   (noise, rate). Cells already stored with status "ok" are skipped; a unit whose cells are all stored trains nothing.
3. Otherwise, under the unit's lease (`noisebench.store.lease`: an exclusive create with a heartbeat, safe on shared
   filesystems where flock is not; a unit another live process holds is visited again after the others, and one
   whose holder died is taken over), the trained weights come from `checkpoints/<unit id>/` when an earlier run kept them, or from
   `noisebench.training.train.fit` — then the trainable part is saved (safetensors, atomically) so a new noise condition
   never retrains.
4. The missing cells are predicted together at the cost of their distinct model inputs (`_evaluate`: one
   length-sorted stream per unit), then each is written as one record (`noisebench.store.records`), atomically. A noisy
   test set depends only on (noise, rate, options, seed, example keys), so every model of the run sees the same
   noisy texts for a seed — the pairing the report's per-seed drops and McNemar tests rely on.

Seeds. One seed value s controls the fine-tuning run (head/LoRA initialisation, data order, dropout) and the noise
draw of that run's test set: the noisy cell of seed s is the model trained with seed s evaluated on the test set
perturbed with seed s.

Failures. A unit whose training diverges (RunError) or runs out of memory gets "failed" records for its cells (the
report marks them) and the run goes on; a re-run retries them. Bad input (UsageError) stops before anything is
written. Ctrl-C or kill -9 loses at most the predictions of the unit being evaluated (never its trained weights): a
re-run resumes from the stored records and the kept checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from noisebench.config import ModelPlan, RunConfig
from noisebench.datasets.base import Dataset
from noisebench.errors import Interrupted, RunError, WriteFailed
from noisebench.models.base import AS_IS
from noisebench.store import ResultsStore, atomic_write_bytes, atomic_write_text, records, sweep_temporaries
from noisebench.store.records import (
    CLEAN_CONDITION,
    DatasetSection,
    ModelSection,
    NoiseCondition,
    Realized,
    Record,
    TrainingSection,
)

if TYPE_CHECKING:  # types only: torch and the model families are imported inside the run
    import torch

    from noisebench.models.base import Classifier, ModelOptions
    from noisebench.training.train import TrainConfig
WEIGHTS = "trainable.safetensors"
TRAINING = "training.json"
PATCHES = "patches"  # BLT patch boundaries, computed once per distinct text and reused by every later run
LEASE_POLL_SECONDS = 2.0  # how often a run looks again at units another process holds

Echo = Callable[[str], None]


@dataclass
class Outcome:
    """What a run did: record ids per status, units trained / loaded / skipped, failures with their reason."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    trained: int = 0
    loaded: int = 0
    units_skipped: int = 0
    errors: list[str] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)  # every cell of the run, in run order


@dataclass(frozen=True)
class Unit:
    """One (model, seed) of the run: what is trained once and evaluated on every condition."""

    plan: ModelPlan
    seed: int
    options: ModelOptions
    train_config: TrainConfig
    dataset: Dataset

    def model_section(self) -> ModelSection:
        return {"name": self.plan.name, "family": self.plan.spec.family, "source": self.plan.spec.source,
                "recipe": self.plan.recipe, "options": self.options.identity()}

    def dataset_section(self) -> DatasetSection:
        return {"name": self.dataset.name, "fingerprint": self.dataset.fingerprint, "split": "test",
                "n": len(self.dataset.test), "source": self.dataset.source}

    def id(self) -> str:
        """The training identity: everything in a record's identity except the noise condition."""
        skeleton = self.skeleton(CLEAN_CONDITION)
        ident = records.identity(skeleton)
        ident.pop("noise")
        ident["versions"].pop("noise")
        return records.short_hash(ident, 32)

    @property
    def as_is(self) -> bool:
        """Recipe "none": a fine-tuned classifier evaluated as saved; the seed only draws the noise."""
        return self.plan.recipe == AS_IS

    def training_identity(self) -> dict:
        return {"recipe": AS_IS} if self.as_is else self.train_config.identity()

    def skeleton(self, condition: NoiseCondition) -> Record:
        """The identity-bearing part of the record of one condition (enough for `records.record_id`)."""
        return {"model": self.model_section(), "dataset": self.dataset_section(),
                "training": {"config": self.training_identity()}, "seed": self.seed, "noise": condition,
                "versions": versions(self.plan, condition)}


def versions(plan: ModelPlan, condition: NoiseCondition) -> dict:
    """The versions block of a record's identity: the implementation version of each noise of the condition, the
    training code's version and the model's weights, so results of older code are never reused or pooled."""
    from noisebench.noise import NOISES
    from noisebench.training.train import TRAINING_VERSION

    names = [] if condition["name"] == records.CLEAN else condition["name"].split(records.COMPOSE)
    return {"noise": {n: NOISES.get(n).version for n in names}, "training": TRAINING_VERSION,
            "model": plan.weights}


def units_of(config: RunConfig) -> tuple[Dataset, list[Unit], list[NoiseCondition]]:
    """The dataset, units and conditions of a run configuration (the dataset is loaded; no model is built)."""
    from noisebench.datasets import load_dataset

    dataset = load_dataset(config.dataset, data_dir=config.data_dir, text_col=config.text_col,
                           label_col=config.label_col, id_col=config.id_col)
    return dataset, make_units(config, dataset), conditions(config)


def make_units(config: RunConfig, dataset: Dataset) -> list[Unit]:
    """The run's units, model by model and seed by seed: what is trained once and evaluated on every condition."""
    train_texts = [ex.text for ex in dataset.train]
    return [Unit(plan, seed, plan.options(num_labels=dataset.num_labels, train_texts=train_texts, seed=seed,
                                          precision=config.precision, label_names=dataset.label_names),
                 config.train_config(plan), dataset)
            for plan in config.models for seed in config.seeds]


def conditions(config: RunConfig) -> list[NoiseCondition]:
    """Clean first, then every (noise, rate) in the order requested — a composition of n noises with each rate of
    n parts (stored as a list), every other noise with each plain rate."""
    out: list[NoiseCondition] = [CLEAN_CONDITION]
    for noise in config.noises:
        out += [{"name": noise.name, "rate": list(rate) if isinstance(rate, tuple) else rate,
                 "options": noise.options} for rate in config.rates if noise.takes(rate)]
    return out


class NoisyTestSets:
    """The test set's texts under each (noise, rate, options, seed), computed once per run and shared by models."""

    def __init__(self, dataset: Dataset) -> None:
        self.texts = [ex.text for ex in dataset.test]
        self.keys = [ex.key for ex in dataset.test]
        self._cache: dict[str, tuple[list[str], Realized]] = {}

    def get(self, condition: NoiseCondition, seed: int) -> tuple[list[str], Realized]:
        """(texts, realized level) of `condition` drawn with `seed`; clean texts and zero level for the clean set."""
        if condition["name"] == records.CLEAN:
            return self.texts, {"edit_ratio": 0.0, "unit_fraction": 0.0, "changed_examples": 0.0,
                                "draw": records.short_hash(self.texts)}
        key = records.canonical_json([condition, seed])
        if key not in self._cache:
            self._cache[key] = self._draw(condition, seed)
        return self._cache[key]

    def _draw(self, condition: NoiseCondition, seed: int) -> tuple[list[str], Realized]:
        from noisebench.noise import composed_steps, measure_dataset, perturb_batch, perturb_chain_steps

        name, rate, options = condition["name"], condition["rate"], condition["options"]
        steps: list[dict[str, Any]] = []
        if isinstance(rate, list):  # a composition: each step measured against the text it was given
            outputs = perturb_chain_steps(self.texts, self.keys, composed_steps(name, rate, options), seed=seed)
            for out in outputs:
                part = measure_dataset(out.given, out.texts, noise=out.step.noise, protected=out.protected,
                                       **out.step.options)
                steps.append({"name": out.step.noise, "rate": out.step.rate, "edit_ratio": part.edit_ratio,
                              "unit_fraction": part.unit_fraction})
            noisy = outputs[-1].texts
            level = measure_dataset(self.texts, noisy, noise="substitute")  # edit ratio and changed examples
            unit_fraction = None  # no unit common to the parts: see "steps"
        else:
            noisy = perturb_batch(self.texts, self.keys, noise=name, rate=rate, seed=seed, **options)
            level = measure_dataset(self.texts, noisy, noise=name, **options)
            unit_fraction = level.unit_fraction
        # "draw": a digest of the noisy texts themselves, so a report can tell whether two models really saw the
        # same noisy test set (the paired comparison needs it).
        realized: Realized = {"edit_ratio": level.edit_ratio, "unit_fraction": unit_fraction,
                              "changed_examples": level.changed_examples or 0.0, "draw": records.short_hash(noisy)}
        if steps:
            realized["steps"] = steps
        return noisy, realized


def warn_on_stderr(line: str) -> None:
    print(f"noisebench: warning: {line}", file=sys.stderr, flush=True)


def execute(config: RunConfig, *, echo: Echo = lambda line: None, progress: Any = None,
            warn: Echo = warn_on_stderr) -> Outcome:
    """Run every unit of `config` (see the module docstring). `progress` is a `RunProgress` or None; `echo` gets
    the run's log lines, `warn` what a user must see even with --quiet (a damaged checkpoint discarded)."""
    from noisebench.store import provenance
    from noisebench.training import train

    dataset, units, wanted = units_of(config)
    if config.only_units:
        units = [u for u in units if u.id() in config.only_units]
    for key, note in dataset.notes.items():  # labels too rare to reach validation or test: never silently
        if key.startswith("too_small_for_"):
            warn(f"{dataset.name}: {note}; they are never evaluated")
    device = train.resolve_device(config.device)
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)
    store = ResultsStore(config.results_dir)
    static = provenance.environment(device)
    noisy = NoisyTestSets(dataset)
    outcome = Outcome()
    for folder in (store.records_dir, store.predictions_dir, store.units_dir, store.trainings_dir,
                   store.checkpoints_dir):
        for path in sweep_temporaries(folder):
            warn(f"removed {path}, a temporary file left by an interrupted writer")
    progress = progress or _NoProgress()
    progress.start(len(units) * len(wanted))
    try:
        _run_units(units, wanted, store, device, static, noisy, config, outcome, progress, echo, warn)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; {_kept(outcome, store)}") from None
    except OSError as e:  # a full disk, a read-only or vanished results directory
        where = Path(e.filename).parent if e.filename else store.root
        raise WriteFailed(f"cannot write in {where}: {e.strerror or e}; {_kept(outcome, store)}; free space or fix "
                          "the directory first") from None
    finally:
        progress.stop()  # also on Ctrl-C: leave the terminal clean
    return outcome


def _kept(outcome: Outcome, store: ResultsStore) -> str:
    done = len(outcome.written) + len(outcome.failed)
    return (f"{done} cell(s) written by this run and every earlier result are kept in {store.root} (nothing "
            "partial: each record and checkpoint is written whole or not at all), and a re-run resumes from them")


def _run_units(units: list[Unit], wanted: list[NoiseCondition], store: ResultsStore, device: torch.device,
               static: dict, noisy: NoisyTestSets, config: RunConfig, outcome: Outcome, progress: Any,
               echo: Echo, warn: Echo) -> None:
    """Each unit under its lock: train (or load) once, then evaluate and store every condition it still owes."""
    from noisebench.training import train

    precision = train.resolve_precision(config.precision, device)
    static = {**static, "precision": precision}  # provenance of every record: the precision it was computed in
    cells = [[records.record_id(unit.skeleton(c)) for c in wanted] for unit in units]
    for ids in cells:
        outcome.record_ids += ids
    start = config.worker % len(units) if units else 0  # workers of one study start on different units
    pending, said = [*range(start, len(units)), *range(start)], 0
    while pending:
        held_elsewhere = []
        for k in pending:
            unit, ids = units[k], cells[k]
            if all(_done(store, i) for i in ids):  # stored before this run, or by another process meanwhile
                if not store.complete(unit.id(), ids):  # complete before markers existed (0.1), or meanwhile
                    with contextlib.suppress(OSError):  # best effort: a read-only store stays readable
                        store.mark_complete(unit.id(), ids)
                outcome.units_skipped += 1
                outcome.skipped += ids
                progress.advance_cells(len(ids))
                continue
            held = store.lease(f"unit-{unit.id()}")
            if held is None:
                held_elsewhere.append(k)
                continue
            with held.start_heartbeat():
                _run_unit(unit, ids, held, wanted, store, device, static, noisy, config, outcome, progress, echo,
                          warn, precision)
        if held_elsewhere:  # another process works on these: come back when it has finished (or died)
            if len(held_elsewhere) != said:
                echo(f"waiting for {len(held_elsewhere)} unit(s) another process is working on")
                said = len(held_elsewhere)
            time.sleep(LEASE_POLL_SECONDS)
        pending = held_elsewhere


def _run_unit(unit: Unit, ids: list[str], held: Any, wanted: list[NoiseCondition], store: ResultsStore,
              device: torch.device, static: dict, noisy: NoisyTestSets, config: RunConfig, outcome: Outcome,
              progress: Any, echo: Echo, warn: Echo, precision: str) -> None:
    """One unit under its lease: train (or load) once, then evaluate and store every condition it still owes."""
    label = f"{unit.plan.name} seed {unit.seed}"
    todo = [(c, i) for c, i in zip(wanted, ids, strict=True) if not _done(store, i)]
    pending = {i for _, i in todo}
    outcome.skipped += [i for i in ids if i not in pending]
    progress.advance_cells(len(ids) - len(todo))
    if not todo:  # another process finished this unit before we took its lease
        outcome.units_skipped += 1
        return
    if held.taken_over is not None:
        warn(f"{label}: took over the unit from a process that stopped ({held.taken_over.get('host')}, pid "
             f"{held.taken_over.get('pid')}); resuming from what it stored")
    try:
        clf, training = _trained(unit, store, device, progress, outcome, echo, warn, label)
    except RunError as e:
        echo(f"{label}: training failed: {e}")
        outcome.errors.append(f"{label}: {e}")
        for condition, _ in todo:
            outcome.failed.append(_failed(store, unit, condition, str(e), static, config))
        progress.advance_cells(len(todo))
        return
    for record in _evaluate(clf, unit, [c for c, _ in todo], noisy, training, static, config, device,
                            precision, progress, label):
        if held.lost:  # our lease went stale and another process took the unit over: it writes these cells
            warn(f"{label}: lost the unit's lease to another process; leaving the rest of its cells to it")
            return
        outcome.written.append(store.put(record).stem)
        progress.advance_cells(1)
    if hasattr(clf, "save_patch_cache"):  # BLT: later runs reuse exactly these patch boundaries
        clf.save_patch_cache(store.root / PATCHES)
    if all(_done(store, i) for i in ids):  # written last: the unit is complete
        store.mark_complete(unit.id(), ids)


def _evaluate(clf: Classifier, unit: Unit, owed: list[NoiseCondition], noisy: NoisyTestSets,
              training: TrainingSection, static: dict, config: RunConfig, device: Any, precision: str,
              progress: Any, label: str) -> Iterator[Record]:
    """The records of a unit's owed conditions. Memoised (the default): every condition's test set is predicted in
    one stream at the cost of its distinct encodings (`train.predict_distinct`); the per-condition path
    (`config.memoise` False) predicts each condition's texts on their own — the same records, kept for the test
    that says so. Each record's timing says how many of its examples were computed and how many reused."""
    from noisebench.training import train

    sets = [noisy.get(condition, unit.seed) for condition in owed]
    batch = 2 * config.batch_size
    if config.memoise:
        started = time.perf_counter()
        logits, computed = train.predict_distinct(clf, [texts for texts, _ in sets], device=device,
                                                  batch_size=batch, precision=precision,
                                                  progress=progress.predict_callback(label, None))
        seconds = time.perf_counter() - started
        shares = [seconds * k / max(sum(computed), 1) for k in computed]  # the stream's time, by computed rows
    clean_windows = clf.windows(noisy.texts)
    views = getattr(clf, "patch_views", None)  # BLT: patch-boundary stability per cell (models/patching.py)
    clean_views = views(noisy.texts) if views is not None else None
    for i, (condition, (texts, level)) in enumerate(zip(owed, sets, strict=True)):
        if not config.memoise:
            started = time.perf_counter()
            cell = train.predict(clf, texts, device=device, batch_size=batch,
                                 progress=progress.predict_callback(label, condition), precision=precision)
            eval_seconds, done = time.perf_counter() - started, len(texts)
        else:
            cell, eval_seconds, done = logits[i], shares[i], computed[i]
        windows = clean_windows if condition["name"] == records.CLEAN else clf.windows(texts)
        level = _visible_level(condition, noisy.texts, clean_windows, texts, windows, level)
        record = _record(unit, condition, cell, level, training, static, config, eval_seconds=eval_seconds,
                         info=clf.info)
        record["timing"].update(computed=done, reused=len(texts) - done)
        record["truncation"] = truncation_section(texts, windows, unit.options.truncation)
        if views is not None and clean_views is not None:
            from noisebench.models.patching import stability

            record["patches"] = stability(clean_views, views(texts))
        yield record


def _seen(text: str, window: tuple) -> str:
    return "".join(text[s:e] for s, e in window)


def truncation_section(texts: list[str], windows: list[tuple], policy: str) -> dict:
    """How much of its inputs a cell's model saw: the share of test texts cut at the input limit and the mean share
    of each text inside the window (characters; an empty text counts as fully seen)."""
    seen = [sum(e - s for s, e in w) for w in windows]
    cut = [v < len(t) for v, t in zip(seen, texts, strict=True)]
    return {"policy": policy, "truncated_fraction": sum(cut) / len(texts) if texts else 0.0,
            "visible_fraction": (sum(v / len(t) if t else 1.0 for v, t in zip(seen, texts, strict=True)) / len(texts)
                                 if texts else 1.0)}


def _whole(window: tuple, text: str) -> bool:
    return not text or (len(window) == 1 and window[0] == (0, len(text)))


def _aligned(clean: str, noisy: str, window: tuple) -> str:
    """The part of `clean` that corresponds to the part of `noisy` inside `window` (character alignment of the two
    texts, so edits that shift positions do not shift the window)."""
    from noisebench.noise.align import position_map

    to_clean = position_map(clean, noisy)
    return "".join(clean[to_clean[s]:to_clean[e]] for s, e in window)


def _visible_level(condition: NoiseCondition, clean: list[str], clean_windows: list[tuple], noisy: list[str],
                   noisy_windows: list[tuple], level: Realized) -> Realized:
    """The realized level again, inside the model's window: each noisy text cut to what the model sees of it, and
    its clean text to the aligned part. Equal to the whole-text level when nothing was cut."""
    if condition["name"] == records.CLEAN:
        return {**level, "unit_fraction_visible": 0.0}
    if isinstance(condition["rate"], list):  # a composition has no common unit; its parts are measured whole
        return {**level, "unit_fraction_visible": None}
    if all(_whole(w, t) for w, t in zip(noisy_windows, noisy, strict=True)):
        return {**level, "unit_fraction_visible": level["unit_fraction"]}
    from noisebench.noise import measure_dataset

    pairs = [(c, n) if _whole(w, n) else (_aligned(c, n, w), _seen(n, w))
             for c, n, w in zip(clean, noisy, noisy_windows, strict=True)]
    inside = measure_dataset([c for c, _ in pairs], [n for _, n in pairs], noise=condition["name"],
                             **condition["options"])
    return {**level, "unit_fraction_visible": inside.unit_fraction}


def _done(store: ResultsStore, record_id: str) -> bool:
    """A cell counts as done when its record exists with status ok and its predictions file is intact (failed
    cells, damaged records and damaged or missing predictions files are recomputed)."""
    path = store.record_path(record_id)
    if not path.is_file():
        return False
    try:
        record = store.get(record_id)
    except records.CorruptRecord:
        return False  # rewritten by this run
    return record is not None and record.get("status") == "ok" and store.predictions_intact(record)


def _trained(unit: Unit, store: ResultsStore, device: torch.device, progress: Any, outcome: Outcome, echo: Echo,
             notice: Echo, label: str) -> tuple[Classifier, TrainingSection]:
    """The unit's classifier with trained weights, and its training section: from the checkpoint when kept,
    otherwise trained now (`train.train_with_fallback`: on out of memory, again with half the micro-batch and twice
    the accumulation, then with gradient checkpointing) and checkpointed. RunError for a diverged run, or out of
    memory in every attempt."""
    from noisebench.models import build_classifier
    from noisebench.training import train

    def fresh() -> Classifier:
        """The unit's model, newly built; a BLT model gets the store's cached patch boundaries."""
        built = build_classifier(unit.plan.spec, unit.options, device)
        if hasattr(built, "load_patch_cache"):
            built.load_patch_cache(store.root / PATCHES)
        return built

    folder = store.checkpoints_dir / unit.id()
    clf = fresh()
    if clf.info.get("new_head_keys"):  # expected for a pretrained backbone: its classification head is new
        echo(f"{label}: newly initialised head (not in the checkpoint): {', '.join(clf.info['new_head_keys'])}")
    if unit.as_is:  # nothing to train or keep: the checkpoint is the model
        from noisebench.models.common import count_parameters

        echo(f"{label}: evaluated as saved ({clf.info.get('revision')}), labels {clf.info.get('labels')}")
        return clf, TrainingSection(config=unit.training_identity(), seconds=0.0, trainable_params=0,
                                    total_params=count_parameters(clf.module)[1], epochs_run=0)
    kept = _load_checkpoint(folder)
    if isinstance(kept, str):
        notice(f"{label}: the checkpoint in {folder} is unreadable ({kept}); discarded, retraining")
        _discard(folder)
    elif kept is not None:
        state, training = kept
        try:
            clf.load_trainable_state(state)
        except (RuntimeError, ValueError, KeyError) as e:  # weights of another shape: not this unit's
            notice(f"{label}: the checkpoint in {folder} does not fit the model ({str(e).splitlines()[0]}); "
                   "discarded, retraining")
            _discard(folder)
            clf = fresh()
        else:
            clf.module.to(device)
            clf.module.eval()
            outcome.loaded += 1
            echo(f"{label}: trained weights loaded from {folder}")
            return clf, training
    store.log_training(unit.id(), {"model": unit.plan.name, "seed": unit.seed, "dataset": unit.dataset.name})
    first = [clf]  # the first attempt trains the model built above; a retry after out of memory builds it anew
    trained, result, attempts = train.train_with_fallback(lambda: first.pop() if first else fresh(), unit.train_config, train=unit.dataset.train,
                                                 validation=unit.dataset.validation, seed=unit.seed, device=device,
                                                 progress=progress.train_callback(label))
    if trained is None or result is None:
        tried = "; ".join(f"batch {a['batch_size']} × accumulation {a['grad_accum']}"
                          + (" with gradient checkpointing" if a["gradient_checkpointing"] else "") for a in attempts)
        raise RunError(f"out of memory while training, in every attempt ({tried}); lower --batch-size or "
                       "--max-length")
    clf = trained
    training = TrainingSection(config=unit.train_config.identity(), seconds=result.seconds,
                               trainable_params=result.trainable_params, total_params=result.total_params,
                               epochs_run=result.epochs_run, best_epoch=result.best_epoch,
                               val_accuracy=result.val_accuracy, val_loss=result.val_loss,
                               history=json.loads(json.dumps(result.history, default=float)),
                               precision=result.precision,
                               checkpoint=str(Path("checkpoints") / unit.id()))
    if len(attempts) > 1:  # it fitted in memory only with a smaller micro-batch or checkpointing
        training["attempts"] = attempts
    _save_checkpoint(folder, clf.trainable_state(), training, unit)
    outcome.trained += 1
    echo(f"{label}: trained in {result.seconds:.1f} s (best epoch {result.best_epoch}, validation accuracy "
         f"{result.val_accuracy:.3f})")
    return clf, training


def _save_checkpoint(folder: Path, state: dict, training: TrainingSection, unit: Unit) -> None:
    """Weights (safetensors) first, then training.json: training.json marks a complete checkpoint. Both atomic and
    fsynced before their rename, so a durable training.json never sits next to truncated weights."""
    from safetensors.torch import save

    # clone: tied weights share storage, which safetensors refuses to write twice
    atomic_write_bytes(folder / WEIGHTS, save({k: v.detach().cpu().contiguous().clone() for k, v in state.items()}))
    meta = {"unit": unit.id(), "model": unit.model_section(), "dataset": unit.dataset_section(), "seed": unit.seed,
            "training": training}
    atomic_write_text(folder / TRAINING, json.dumps(meta, indent=1) + "\n")


def _load_checkpoint(folder: Path) -> tuple[dict, TrainingSection] | str | None:
    """(state, training section) of a complete checkpoint; None when there is none (absent, or interrupted before
    training.json was written); a reason string when its files are there but cannot be read (damaged)."""
    from safetensors.torch import load_file

    if not (folder / TRAINING).is_file() or not (folder / WEIGHTS).is_file():
        return None
    try:
        meta = json.loads((folder / TRAINING).read_text(encoding="utf-8"))
        training = meta["training"]
        if not isinstance(training, dict) or "config" not in training:
            return f"{TRAINING} has no training section"
        return load_file(folder / WEIGHTS), cast(TrainingSection, training)
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        return f"{TRAINING}: {type(e).__name__}: {e}"
    except OSError as e:
        return f"{e.strerror or e}"
    except Exception as e:  # safetensors raises its own SafetensorError for truncated or garbled weights
        return f"{WEIGHTS}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"


def _discard(folder: Path) -> None:
    """Remove a damaged checkpoint's files (training.json first: without it the folder is never trusted)."""
    for name in (TRAINING, WEIGHTS):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()


def _record(unit: Unit, condition: NoiseCondition, logits: np.ndarray, level: Realized, training: TrainingSection,
            static: dict, config: RunConfig, *, eval_seconds: float, info: dict) -> Record:
    from noisebench.store import provenance
    from noisebench.training import metrics

    test = unit.dataset.test
    labels = np.asarray([ex.label for ex in test], dtype=np.int64)
    predicted = logits.argmax(axis=1).astype(np.int64)
    summary = metrics.summarize(labels, predicted, unit.dataset.num_labels)
    per_class = {name: f1 for name, f1 in zip(unit.dataset.label_names, summary["per_class_f1"], strict=True)}
    record = unit.skeleton(condition)
    record["model"]["tokenizer"] = info.get("tokenizer")
    record["model"]["truncation"] = info.get("truncation")
    record["status"], record["error"], record["training"] = "ok", None, training
    majority = float(np.bincount(labels).max() / len(labels))
    from noisebench.report.stats import above_majority

    record["metrics"] = {"accuracy": summary["accuracy"], "macro_f1": summary["macro_f1"], "per_class_f1": per_class,
                         "n": summary["n"], "majority_rate": majority,
                         "p_above_majority": above_majority(int((predicted == labels).sum()), len(labels), majority)}
    record["realized"] = level
    record["predictions"] = {"ids": [ex.id for ex in test], "labels": labels.tolist(),
                             "predicted": predicted.tolist()}
    record["timing"] = {"eval_seconds": eval_seconds}  # `_evaluate` adds computed / reused
    record["provenance"] = provenance.stamp(static, config.hash())
    return record


def _failed(store: ResultsStore, unit: Unit, condition: NoiseCondition, error: str, static: dict, config: RunConfig) -> str:
    from noisebench.store import provenance

    record = unit.skeleton(condition)
    record["status"], record["error"] = "failed", error
    record["training"] = {"config": unit.training_identity()}
    record["provenance"] = provenance.stamp(static, config.hash())
    store.put(record)
    return records.record_id(record)


class _NoProgress:
    def start(self, cells: int) -> None: ...
    def stop(self) -> None: ...
    def advance_cells(self, n: int) -> None: ...
    def train_callback(self, label: str) -> None: ...
    def predict_callback(self, label: str, condition: NoiseCondition | None) -> None: ...


class RunProgress:
    """Rich progress bars with ETA: one for all cells of the run, one for the current training, one for the
    current evaluation. Writes to `console` (stderr in the CLI)."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                             transient=False)
        self.cells = self.bars.add_task("cells", total=0, visible=False)
        self.train = self.bars.add_task("training", total=None, visible=False)
        self.eval = self.bars.add_task("evaluating", total=None, visible=False)

    def start(self, cells: int) -> None:
        self.bars.update(self.cells, total=cells, visible=True, description="cells evaluated")
        self.bars.start()

    def stop(self) -> None:
        self.bars.stop()

    def advance_cells(self, n: int) -> None:
        self.bars.advance(self.cells, n)

    def train_callback(self, label: str) -> Callable[[int, int, str], None]:
        self.bars.reset(self.train, total=None, visible=True, description=f"train {label}")

        def update(done: int, total: int, stage: str) -> None:
            if stage == "train":
                self.bars.update(self.train, completed=done, total=total)
        return update

    def predict_callback(self, label: str, condition: NoiseCondition | None) -> Callable[[int, int, str], None]:
        """The evaluation bar of one condition, or (None) of a unit's memoised stream of distinct inputs."""
        name = ("distinct inputs of every condition" if condition is None else condition["name"]
                if condition["name"] == records.CLEAN else
                f"{condition['name']}@{records.rate_text(condition['rate'])}")
        self.bars.reset(self.eval, total=None, visible=True, description=f"eval {label} {name}")

        def update(done: int, total: int, stage: str) -> None:
            self.bars.update(self.eval, completed=done, total=total)
        return update


def summary_rows(store: ResultsStore, record_ids: list[str]) -> list[dict]:
    """Per (model, recipe, noise, rate) of this run: seeds done, mean clean and noisy accuracy over those seeds,
    and the mean of the per-seed drops (clean − noisy of the same seed). Failed or missing cells are counted."""
    recs = [r for i in dict.fromkeys(record_ids) if (r := store.get(i)) is not None]
    clean = {(r["model"]["name"], r["model"]["recipe"], r["seed"]): r["metrics"]["accuracy"]
             for r in recs if r["noise"]["name"] == records.CLEAN and r["status"] == "ok"}
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        groups.setdefault((r["model"]["name"], r["model"]["recipe"], r["noise"]["name"],
                           records.rate_key(r["noise"]["rate"])), []).append(r)
    rows = []
    for (model, recipe, noise, rate), members in groups.items():
        ok = [r for r in members if r["status"] == "ok"]
        accs = [r["metrics"]["accuracy"] for r in ok]
        drops = [clean[(model, recipe, r["seed"])] - r["metrics"]["accuracy"] for r in ok
                 if (model, recipe, r["seed"]) in clean]
        rows.append({"model": model, "recipe": recipe, "noise": noise, "rate": rate, "seeds": len(ok),
                     "failed": len(members) - len(ok),
                     "clean": float(np.mean([clean[(model, recipe, r["seed"])] for r in ok
                                             if (model, recipe, r["seed"]) in clean])) if drops else None,
                     "accuracy": float(np.mean(accs)) if accs else None,
                     "drop": float(np.mean(drops)) if drops else None})
    return rows
