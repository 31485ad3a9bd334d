"""`noisebench patches`: how a BLT model's entropy patches move under each noise, on demand, without training.

The patcher is frozen, so its boundaries depend only on its weights and the bytes the model sees: this command
builds the model (the patcher's weights; nothing is trained), draws the noisy test sets exactly as `noisebench run`
does for the same seeds, and prints per (noise, rate) the measures of `noisebench.models.patching` (mean over the
seeds). `--plots DIR` also draws boundary F1 against the accuracy drop from the results store (`noisebench run`
stores both per cell for BLT models). Nothing heavy is imported at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from noisebench.errors import UsageError

# (header, measure of noisebench.models.patching.MEASURES, decimals)
COLUMNS = (("boundary F1", "boundary_f1", 3), ("precision", "boundary_precision", 3),
           ("recall", "boundary_recall", 3), ("patches clean", "patches_clean", 2),
           ("patches noisy", "patches_noisy", 2), ("Δ patches", "patch_count_change", 2),
           ("bytes/patch clean", "mean_patch_length_clean", 3), ("bytes/patch noisy", "mean_patch_length_noisy", 3),
           ("entropy shift", "entropy_shift", 4))


def patches(
    model: Annotated[str, typer.Option("--model", help="A BLT model: blt, blt-tiny or blt:<hub-id|dir>.")],
    dataset: Annotated[str | None, typer.Option(help="Dataset (as for `noisebench run`). Default: clinical-notes.")]
    = None,
    noise: Annotated[str | None, typer.Option(help="Noises (comma list, 'all', or a+b compositions).")] = None,
    rate: Annotated[str | None, typer.Option(help="Rates (comma list, 'all' = 0.1,0.2,0.3; 1.0+0.05 for a "
                                                  "composition).")] = None,
    seeds: Annotated[str | None, typer.Option(help="Seeds whose noise draws are measured (comma list). Default: "
                                                   "42,123,456,789,1024.")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="NOISE.KEY=VALUE, repeatable.")] = None,
    data_dir: Annotated[str | None, typer.Option(help="Folder with one sub-folder per dataset.")] = None,
    text_col: Annotated[str | None, typer.Option(help="Text column of your own file.")] = None,
    label_col: Annotated[str | None, typer.Option(help="Label column of your own file.")] = None,
    id_col: Annotated[str | None, typer.Option(help="Id column of your own file (example keys).")] = None,
    max_length: Annotated[int | None, typer.Option(help="Bytes the model sees (default 512).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    results_dir: Annotated[Path, typer.Option(help="Results store read by --plots.")] = Path("results"),
    plots: Annotated[Path | None, typer.Option(
        "--plots", help="Also write <dataset>-patches-vs-drop.png/.svg here, from the results store.")] = None,
    plain: Annotated[bool, typer.Option("--plain", help="Tab-separated rows with a header (for piping).")] = False,
) -> None:
    """Measure how a BLT model's patch boundaries move under noise (boundary F1, patch counts, entropy shift)."""
    from noisebench.config import build_run_config

    config = build_run_config(model=model, dataset=dataset, noise=noise, rate=rate, seeds=seeds,
                              options=option or (), data_dir=data_dir, text_col=text_col, label_col=label_col,
                              id_col=id_col, max_length=max_length, device=device, results_dir=results_dir,
                              recipe="probe")
    plan = config.models[0]
    if len(config.models) != 1 or plan.spec.family != "blt":
        from noisebench.models import MODELS

        blt = [n for n, s in MODELS.items() if s.family == "blt"]
        raise UsageError(f"patch boundaries exist only for BLT models (one at a time): {', '.join(blt)} or "
                         "blt:<hub-id|dir>")
    name, rows = measure(config)
    _print(rows, plain)
    if plots is not None:
        _plot(config, name, plots)


def measure(config) -> tuple[str, list[tuple[str, str, dict[str, float]]]]:
    """The dataset's name and (noise, rate, {measure: mean over the seeds}) for every noisy condition."""
    from noisebench.datasets import load_dataset
    from noisebench.models import build_classifier
    from noisebench.models.patching import MEASURES, PatchView, stability
    from noisebench.store.records import rate_text
    from noisebench.study.run import NoisyTestSets, conditions
    from noisebench.training import train

    data = load_dataset(config.dataset, data_dir=config.data_dir, text_col=config.text_col,
                        label_col=config.label_col, id_col=config.id_col)
    plan = config.models[0]
    options = plan.options(num_labels=data.num_labels, train_texts=[], seed=config.seeds[0],
                           precision=config.precision, label_names=data.label_names)
    clf = build_classifier(plan.spec, options, train.resolve_device(config.device))
    views: Callable[[list[str]], list[PatchView]] = clf.patch_views  # type: ignore[attr-defined]  # BLT only
    noisy = NoisyTestSets(data)
    clean = views(noisy.texts)
    rows = []
    for condition in conditions(config)[1:]:
        per_seed = [stability(clean, views(noisy.get(condition, seed)[0])) for seed in config.seeds]
        means = {m: sum(s[m] for s in per_seed) / len(per_seed) for m in MEASURES}
        rows.append((condition["name"], rate_text(condition["rate"]), means))
    return data.name, rows


def _print(rows: list[tuple[str, str, dict[str, float]]], plain: bool) -> None:
    headers = ["noise", "rate", *(h for h, _, _ in COLUMNS)]
    cells = [[name, rate, *(f"{means[m]:.{places}f}" for _, m, places in COLUMNS)] for name, rate, means in rows]
    if plain:
        typer.echo("\t".join(["noise", "rate", *(m for _, m, _ in COLUMNS)]))
        for row in cells:
            typer.echo("\t".join(row))
        return
    from noisebench.report.boxtable import Block
    from noisebench.report.boxtable import plain as render

    note = ("boundary F1: clean entropy-patch boundaries kept where the edit-aligned bytes put them (1 = none "
            "moved); patches per text; Δ = noisy - clean; entropy shift = mean next-byte entropy (nats) of the noisy "
            "bytes minus the clean; means over the seeds' noise draws")
    typer.echo(render([Block("noisebench patches", headers, cells, [j >= 2 for j in range(len(headers))],
                             [note])]), nl=False)


def _plot(config, dataset: str, directory: Path) -> None:
    from noisebench.report import load
    from noisebench.report.aggregate import Settings, build
    from noisebench.report.plots import write_patch_plot

    model = config.models[0].name
    hint = (f"run `noisebench run --model {model} --dataset {config.dataset}` first (the plot needs stored drops)")
    if not Path(config.results_dir).is_dir():
        raise UsageError(f"--plots: no results directory {config.results_dir}; {hint}")
    records, _ = load(config.results_dir, skip_corrupt=True)
    mine = [r for r in records if r["model"]["name"] == model and r["dataset"]["name"] == dataset]
    written = write_patch_plot(build(mine, Settings()), directory) if mine else []
    if not written:
        raise UsageError(f"--plots: no stored BLT results for {model} on {dataset} in {config.results_dir}; {hint}")
    for path in written:
        typer.echo(f"wrote {path}", err=True)


def register(app: typer.Typer) -> None:
    app.command("patches")(patches)
