"""The configuration of `noisebench run`, validated once at the boundary.

    config = build_run_config(model="bert-tiny", noise="substitute,phi", rate="0.1,0.3", seeds="42,123")

`build_run_config` takes what the command line gives (comma lists as strings, numbers or None for "not given"),
checks everything it can without loading data or models, and either returns a frozen `RunConfig` that inner code
trusts, or raises ONE UsageError listing every problem (separated by "; "). Nothing is written either way.

Defaults (the command line wins over them):
- no --model: the built-in offline default, `OFFLINE_DEFAULT` — tiny byte-level + tiny subword models with
  CPU-friendly training settings (see `OFFLINE_TRAINING`); it runs end to end with no network;
- dataset `clinical-notes`; noises `all` = every calibrated core noise (the uncalibrated nlpaug adapters only when
  named); rates `all` = 0.1, 0.2, 0.3; seeds 42, 123, 456, 789, 1024;
- recipe: each model's default; learning rate: --lr, else the sweep's choice (lora models named in the sweep), else
  the model's default for its recipe;
- with --model given, training follows `noisebench.training.train.TrainConfig`'s defaults and the family's max length.

Seeds. One seed value controls both the fine-tuning run (initialisation, data order, dropout) and the noise draw
applied to that run's test set, so seed s of a noisy cell is the model trained with seed s, evaluated on the test
set perturbed with seed s.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from noisebench.errors import UsageError, unknown_name
from noisebench.store.records import COMPOSE, rate_text, short_hash

if TYPE_CHECKING:  # types only: configuration imports no workflow at run time
    from noisebench.models.base import ModelOptions, ModelSpec
    from noisebench.training.train import TrainConfig

DEFAULT_DATASET = "clinical-notes"
OFFLINE_DEFAULT = ("byt5-tiny", "bert-tiny")
DEFAULT_RATES = (0.1, 0.2, 0.3)
DEFAULT_SEEDS = (42, 123, 456, 789, 1024)
# Tuned with benchmarks/offline_default.py (with the tiny configs' sizes) so the whole default finishes in about
# a minute on 2 idle CPU cores (issue 11's goal: <= 90 s); its workers: studyfile.auto_workers.
OFFLINE_TRAINING = {"epochs": 3, "batch_size": 32, "max_length": 256}
LORA_TARGETS = ("qv", "qkvo")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")  # see noisebench.training.train.resolve_precision
TRUNCATIONS = ("head", "tail", "head+tail")  # see noisebench.models.common.kept
SEED_MAX = 2**32 - 1  # numpy / torch generators accept any seed in [0, 2**32)
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class ModelPlan:
    """One model of the run with its resolved recipe, learning rate and options.

    spec:   the registry entry (`noisebench.models.resolve_model`).
    lr:     the learning rate actually used (part of the training identity).
    """

    name: str
    spec: ModelSpec
    recipe: str
    lr: float | None  # None only for recipe "none" (nothing trains)
    pooling: str | None = None
    max_length: int | None = None
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_targets: str = "qv"
    truncation: str = "head"  # head | tail | head+tail
    label_map: tuple[tuple[str, str], ...] = ()  # recipe "none": dataset label → checkpoint label
    revision: str | None = None  # recipe "none": the checkpoint's weights (noisebench.models.hub.revision)
    weights: str = ""  # every recipe: what identifies the weights (ModelSpec.weights), for the versions block

    def options(self, *, num_labels: int, train_texts: Sequence[str], seed: int, precision: str = "auto",
                label_names: Sequence[str] = ()) -> ModelOptions:
        """The `ModelOptions` a builder gets for one seed of this model."""
        from noisebench.models.base import ModelOptions

        return ModelOptions(num_labels=num_labels, recipe=self.recipe, pooling=self.pooling,
                            max_length=self.max_length, lora_rank=self.lora_rank, lora_alpha=self.lora_alpha,
                            lora_targets=self.lora_targets, train_texts=tuple(train_texts), seed=seed,
                            precision=precision, label_names=tuple(label_names), label_map=self.label_map,
                            revision=self.revision, truncation=self.truncation)

    def summary(self) -> dict:
        out = {"name": self.name, "recipe": self.recipe, "lr": self.lr, "pooling": self.pooling,
               "max_length": self.max_length, "truncation": self.truncation}
        if self.recipe == "lora":
            out.update(lora_rank=self.lora_rank, lora_alpha=self.lora_alpha, lora_targets=self.lora_targets)
        return out


@dataclass(frozen=True)
class NoisePlan:
    """One noise of the run with its normalised options (defaults filled in). A composition "casing+substitute"
    applies its parts in order; its options are {part: options} and its rates have one part per noise."""

    name: str
    options: dict = field(default_factory=dict)

    @property
    def arity(self) -> int:
        return self.name.count(COMPOSE) + 1

    def takes(self, rate: float | tuple[float, ...]) -> bool:
        """Is `rate` one of this noise's rates? A plain rate for one noise, an n-part rate for n composed noises."""
        return (len(rate) if isinstance(rate, tuple) else 1) == self.arity


@dataclass(frozen=True)
class RunConfig:
    """A validated `noisebench run` request. Build it with `build_run_config`; inner code trusts it."""

    models: tuple[ModelPlan, ...]
    noises: tuple[NoisePlan, ...]
    rates: tuple[float | tuple[float, ...], ...]  # a composition's rates are tuples (one part per noise)
    seeds: tuple[int, ...]
    dataset: str = DEFAULT_DATASET
    data_dir: str | None = None
    text_col: str | None = None
    label_col: str | None = None
    id_col: str | None = None
    epochs: int = 3
    batch_size: int = 32
    grad_accum: int = 1
    patience: int = 1
    min_epochs: int = 1
    precision: str = "auto"
    device: str = "auto"
    results_dir: Path = Path("results")
    quiet: bool = False
    offline_default: bool = False  # no --model was given: the built-in default models and training settings
    sweep: str | None = None
    memoise: bool = True  # predict each distinct model input once per unit (run.py); False: per condition (tests)
    threads: int | None = None  # torch threads of this process (None: torch's default); recorded in provenance
    worker: int = 0  # which worker of a local executor this process is: where in the unit list it starts
    only_units: tuple[str, ...] = ()  # run only these units (their ids): one task of the slurm or ray executor

    def train_config(self, model: ModelPlan) -> TrainConfig:
        """The `noisebench.training.train.TrainConfig` of `model` (its lr resolved; everything else shared by the run)."""
        from noisebench.training.train import TrainConfig

        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, grad_accum=self.grad_accum, lr=model.lr,
                           patience=self.patience, min_epochs=self.min_epochs, precision=self.precision)

    def summary(self) -> dict:
        """The settings that decide the results (not where they go or how verbose the run is), as JSON."""
        return {"models": [m.summary() for m in self.models], "dataset": self.dataset,
                "noises": [{"name": n.name, "options": n.options} for n in self.noises],
                "rates": [list(r) if isinstance(r, tuple) else r for r in self.rates],
                "seeds": list(self.seeds), "epochs": self.epochs, "batch_size": self.batch_size,
                "grad_accum": self.grad_accum, "patience": self.patience, "min_epochs": self.min_epochs,
                "precision": self.precision, "device": self.device}

    def hash(self) -> str:
        return short_hash(self.summary())

    def describe_default(self) -> str:
        """The one line printed when the built-in offline default runs."""
        noises = ", ".join(n.name for n in self.noises)
        return (f"no --model given: running the built-in offline default — {', '.join(m.name for m in self.models)} "
                f"on {self.dataset}; noises {noises} at {', '.join(rate_text(r) for r in self.rates)}; seeds "
                f"{', '.join(map(str, self.seeds))}; {self.epochs} epochs (see `noisebench run --help` to choose)")


def split_list(text: str) -> list[str]:
    """Comma-separated items, stripped, empty ones dropped."""
    return [s.strip() for s in text.split(",") if s.strip()]


def _unique(items: Sequence) -> list:
    return list(dict.fromkeys(items))


def core_noises() -> list[str]:
    """`--noise all`: the study's seven noises (every registered calibrated noise of the study that needs no optional
    package), in catalogue order. Later additions such as `misspell` are run by name."""
    from noisebench.noise import NOISES

    return [name for name, spec in NOISES.items() if spec.calibrated and spec.requires is None and spec.in_study]


def _needs_package(name: str, errors: list[str]) -> None:
    from noisebench.noise import NOISES

    spec = NOISES.get(name)
    if spec.requires and importlib.util.find_spec(spec.requires) is None:
        errors.append(f"noise {name!r} needs the optional package {spec.requires!r} "
                      f"(pip install 'noisebench[{spec.requires}]')")


def _parse_noises(text: str | None, errors: list[str]) -> list[str]:
    """Noise names: registered names, `all` (the study's seven), and compositions `a+b` (applied in order)."""
    from noisebench.noise import NOISES, composition

    names: list[str] = []
    for item in split_list(text or "all") or ["<empty>"]:
        if item == "all":
            names.extend(core_noises())
        elif COMPOSE in item:
            try:
                parts = composition(item) or []
            except UsageError as e:
                errors.append(f"--noise: {e}")
                continue
            for part in parts:
                _needs_package(part, errors)
            names.append(COMPOSE.join(parts))
        elif item in NOISES:
            _needs_package(item, errors)
            names.append(item)
        else:
            errors.append(str(unknown_name("noise", item, [*NOISES.names(), "all"])))
    return _unique(names)


def parse_rate(item: str) -> float | tuple[float, ...]:
    """One rate: "0.1" -> 0.1, or a composition's "1.0+0.05" -> (1.0, 0.05); UsageError when a part is not a
    number in [0, 1]."""
    from noisebench.noise import validate_rate

    parts = []
    for part in item.split(COMPOSE):
        try:
            parts.append(validate_rate(float(part)))
        except ValueError:
            raise UsageError(f"{part.strip() or item!r} is not a number (rates are fractions in [0, 1], e.g. 0.1; "
                             "a composition's rate has one part per noise, e.g. 1.0+0.05)") from None
    return tuple(parts) if len(parts) > 1 else parts[0]


def _parse_rates(text: str | None, errors: list[str]) -> list[float | tuple[float, ...]]:
    if text is None or text.strip() == "all":
        return list(DEFAULT_RATES)
    rates = []
    for item in split_list(text) or ["<empty>"]:
        try:
            rates.append(parse_rate(item))
        except UsageError as e:
            errors.append(f"--rate: {e}")
    return _unique(rates)


def _check_arity(noises: list[str], rates: list, errors: list[str]) -> None:
    """Every noise gets at least one rate of its shape, and every rate belongs to some noise."""
    plans = [NoisePlan(n) for n in noises]
    for plan in plans:
        if not any(plan.takes(r) for r in rates):
            example = COMPOSE.join(["0.1"] * plan.arity)
            errors.append(f"--noise {plan.name} composes {plan.arity} noises: give it a rate with one part per "
                          f"noise, e.g. --rate {example}" if plan.arity > 1 else
                          f"--noise {plan.name} needs a plain rate such as 0.1 (the rates given are all "
                          "compositions' rates)")
    for rate in rates:
        if not plans or any(p.takes(rate) for p in plans):
            continue
        errors.append(f"--rate {rate_text(rate)} has {len(rate)} parts but no requested noise composes "
                      f"{len(rate)} noises" if isinstance(rate, tuple) else
                      f"--rate {rate_text(rate)} is a plain rate but every requested noise is a composition")


def _parse_seeds(text: str | None, errors: list[str]) -> list[int]:
    if text is None:
        return list(DEFAULT_SEEDS)
    seeds = []
    for item in split_list(text) or ["<empty>"]:
        try:
            seed = int(item)
        except ValueError:
            errors.append(f"--seeds: {item!r} is not an integer")
            continue
        if not 0 <= seed <= SEED_MAX:
            errors.append(f"--seeds: {seed} is outside [0, {SEED_MAX}]")
        else:
            seeds.append(seed)
    return _unique(seeds)


def _parse_options(given: Sequence[str], noises: list[str], errors: list[str]) -> dict[str, dict]:
    """`--option NOISE.KEY=VALUE` (repeatable) → {noise: normalised options} for every requested noise; a
    composition's entry is {part: normalised options} (an option of a noise applies wherever it is a part)."""
    requested = _unique([p for n in noises for p in n.split(COMPOSE)])
    from noisebench.noise import NOISES, validate_options

    raw: dict[str, dict[str, str]] = {}
    for item in given:
        match = re.fullmatch(r"\s*([^.=\s]+)\.([^=\s]+)\s*=(.*)", item)
        if match is None:
            errors.append(f"--option {item!r}: expected NOISE.KEY=VALUE, e.g. substitute.mode=keyboard")
            continue
        noise, key, value = match.groups()
        if noise not in NOISES:
            errors.append(f"--option {item!r}: {unknown_name('noise', noise, NOISES.names())}")
        elif noise not in requested:
            errors.append(f"--option {item!r}: noise {noise!r} is not among the requested noises "
                          f"({', '.join(noises) or 'none'})")
        else:
            raw.setdefault(noise, {})[key] = value
    single = {}
    for noise in requested:
        try:
            single[noise] = validate_options(noise, raw.get(noise, {}))
        except UsageError as e:
            errors.append(f"--option: {e}")
    return {n: ({p: single.get(p, {}) for p in n.split(COMPOSE)} if COMPOSE in n else single.get(n, {}))
            for n in noises}


def _label_map(value: str | None, errors: list[str]) -> tuple[tuple[str, str], ...]:
    """'pos=POSITIVE, neg=NEGATIVE' → (("pos", "POSITIVE"), ("neg", "NEGATIVE")): dataset label = checkpoint label."""
    pairs = []
    for item in (value or "").split(","):
        if not item.strip():
            continue
        ours, sep, theirs = item.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            errors.append(f"--label-map entry {item.strip()!r}: write DATASET_LABEL=CHECKPOINT_LABEL")
            continue
        pairs.append((ours.strip(), theirs.strip()))
    return tuple(pairs)


def _positive(name: str, value: int | float | None, errors: list[str]) -> None:
    if value is not None and not value > 0:
        errors.append(f"--{name} must be > 0 (got {value})")


def _resolve_models(names: list[str], errors: list[str], need_weights: bool = True) -> list[ModelSpec]:
    from noisebench.models import hub, resolve_model

    specs = []
    for name in names:
        try:
            spec = resolve_model(name)
        except UsageError as e:
            errors.append(str(e))
            continue
        # A Hub model that is neither local, packaged nor cached fails here, before anything is written.
        if need_weights and not spec.tiny and not spec.offline() and not hub.hub_reachable():
            errors.append(str(hub.offline_error(spec.source)))
            continue
        specs.append(spec)
    return specs


def _check_dataset(dataset: str, errors: list[str]) -> None:
    """Cheap name/path check; the data themselves (columns, encoding, labels) are checked when loaded."""
    from noisebench.datasets import DATASETS

    if dataset in DATASETS or Path(dataset).expanduser().exists():
        return
    if "/" in dataset or Path(dataset).suffix:
        errors.append(f"dataset file not found: {Path(dataset).expanduser()}")
    else:
        errors.append(f"{unknown_name('dataset', dataset, DATASETS.names())}; or give the path of a "
                      f".csv/.tsv/.jsonl/.parquet file or a folder of split files")


def _load_sweep(path: str, errors: list[str]) -> tuple[str | None, dict | None]:
    from noisebench.training.sweep import load_choice, load_sweep

    try:
        data = load_sweep(path)
        return data.get("model", {}).get("name"), load_choice(path, data)
    except UsageError as e:
        errors.append(f"--sweep: {e}")
        return None, None


def build_run_config(*, model: str | None = None, dataset: str | None = None, noise: str | None = None,
                     rate: str | None = None, seeds: str | None = None, recipe: str | None = None,
                     pooling: str | None = None, lora_rank: int | None = None, lora_alpha: int | None = None,
                     lora_targets: str | None = None, sweep: str | None = None, epochs: int | None = None,
                     batch_size: int | None = None, grad_accum: int | None = None, lr: float | None = None,
                     max_length: int | None = None, device: str = "auto", results_dir: str | Path = "results",
                     data_dir: str | None = None, text_col: str | None = None, label_col: str | None = None,
                     id_col: str | None = None, options: Sequence[str] = (), quiet: bool = False,
                     patience: int | None = None, min_epochs: int | None = None,
                     precision: str = "auto", label_map: str | None = None,
                     truncation: str = "head", need_weights: bool = True) -> RunConfig:
    """Validate a run request (see the module docstring for defaults); one UsageError lists every problem.
    need_weights=False (`noisebench plan`): a full-size model that is not available here is no error."""
    errors: list[str] = []
    offline_default = model is None
    training: dict[str, Any] = (dict(OFFLINE_TRAINING) if offline_default
                                else {"epochs": 3, "batch_size": 32, "max_length": None})
    for name, given in (("epochs", epochs), ("batch_size", batch_size), ("max_length", max_length)):
        if given is not None:
            training[name] = given
    for name, value in (("epochs", epochs), ("batch-size", batch_size), ("grad-accum", grad_accum),
                        ("max-length", max_length), ("lr", lr), ("lora-rank", lora_rank),
                        ("lora-alpha", lora_alpha), ("patience", patience), ("min-epochs", min_epochs)):
        _positive(name, value, errors)
    if truncation not in TRUNCATIONS:
        errors.append(f"--truncation {truncation!r}: choose from {', '.join(TRUNCATIONS)}")
    if precision not in PRECISIONS:
        errors.append(f"--precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    if min_epochs is not None and min_epochs > training["epochs"]:
        errors.append(f"--min-epochs {min_epochs} is more than --epochs {training['epochs']}")
    if lora_targets is not None and lora_targets not in LORA_TARGETS:
        errors.append(f"--lora-targets {lora_targets!r}: choose from {', '.join(LORA_TARGETS)}")
    if not _DEVICE.match(device):
        errors.append(f"--device {device!r}: choose auto, cpu, cuda or cuda:N")
    results = Path(results_dir).expanduser()
    if results.exists() and not results.is_dir():
        errors.append(f"--results-dir {results} exists and is not a directory")
    dataset = dataset or DEFAULT_DATASET
    _check_dataset(dataset, errors)

    noise_names = _parse_noises(noise, errors)
    noise_options = _parse_options(options, noise_names, errors)
    problems_before_rates = len(errors)
    rates = _parse_rates(rate, errors)
    if len(errors) == problems_before_rates:  # a rate that did not parse is the problem, not its shape
        _check_arity(noise_names, rates, errors)
    seed_values = _parse_seeds(seeds, errors)

    names = _unique(split_list(model)) if model is not None else list(OFFLINE_DEFAULT)
    if not names:
        errors.append("--model is empty")
    specs = _resolve_models(names, errors, need_weights)
    sweep_model, choice = _load_sweep(sweep, errors) if sweep else (None, None)

    mapping = _label_map(label_map, errors)
    if mapping and recipe != "none":
        errors.append("--label-map applies to --recipe none (a fine-tuned classifier evaluated as it is)")
    plans = []
    for spec in specs:
        chosen = recipe or spec.default_recipe
        if chosen not in spec.recipes:
            errors.append(f"model {spec.name!r} has no recipe {chosen!r} (its recipes: {', '.join(spec.recipes)})")
            continue
        if pooling is not None and pooling not in spec.poolings:
            has = f"its poolings: {', '.join(spec.poolings)}" if spec.poolings else "its pooling is fixed"
            errors.append(f"model {spec.name!r} has no pooling {pooling!r} ({has})")
            continue
        lora: dict[str, Any] = {"lora_rank": 16, "lora_alpha": 32, "lora_targets": "qv"}
        model_lr = spec.default_lr.get(chosen)
        if choice is not None and spec.name == sweep_model and chosen == "lora":
            lora = {k: choice[k] for k in lora}
            model_lr = choice["lr"]
        lora.update({k: v for k, v in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha),
                                        ("lora_targets", lora_targets)) if v is not None})
        model_lr = lr if lr is not None else model_lr
        as_is: dict[str, Any] = {}
        if chosen == "none":  # evaluated as saved: no learning rate; the weights' revision joins the identity
            from noisebench.models import hub

            as_is = {"label_map": mapping, "revision": hub.revision(spec.source)}
        elif model_lr is None:
            errors.append(f"model {spec.name!r} has no default learning rate for recipe {chosen!r}; pass --lr")
            continue
        weights = as_is["revision"] if as_is else spec.weights()
        plans.append(ModelPlan(name=spec.name, spec=spec, recipe=chosen, pooling=pooling, weights=weights,
                               lr=None if model_lr is None or chosen == "none" else float(model_lr),
                               max_length=training["max_length"], truncation=truncation, **lora, **as_is))

    lora_flags = [f for f, v in (("--lora-rank", lora_rank), ("--lora-alpha", lora_alpha),
                                 ("--lora-targets", lora_targets)) if v is not None]
    if lora_flags and plans and not any(p.recipe == "lora" for p in plans):
        errors.append(f"{', '.join(lora_flags)} applies to the lora recipe, which no requested model uses "
                      "(pass --recipe lora)")
    if sweep_model is not None and not any(p.name == sweep_model and p.recipe == "lora" for p in plans):
        errors.append(f"--sweep {sweep} was run for model {sweep_model!r}, which this run does not train with "
                      "the lora recipe")
    if errors:
        raise UsageError(errors[0] if len(errors) == 1 else
                         f"{len(errors)} problems with the run configuration: " + "; ".join(errors))
    return RunConfig(models=tuple(plans),
                     noises=tuple(NoisePlan(n, noise_options[n]) for n in noise_names),
                     rates=tuple(rates), seeds=tuple(seed_values), dataset=dataset, data_dir=data_dir,
                     text_col=text_col, label_col=label_col, id_col=id_col, epochs=training["epochs"],
                     batch_size=training["batch_size"], grad_accum=grad_accum or 1, patience=patience or 1,
                     min_epochs=min_epochs or 1, precision=precision, device=device,
                     results_dir=results, quiet=quiet, offline_default=offline_default, sweep=sweep)


def replace(config: RunConfig, **changes: Any) -> RunConfig:
    """A copy with some fields changed (for tests and benchmarks; the values must already be valid)."""
    return dataclasses.replace(config, **changes)
