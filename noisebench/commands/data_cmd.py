"""`noisebench datasets`: list the registered datasets, inspect one (or your own file), export one as TSV files.

Listing never touches the network: "offline here" only checks the data directory for a local copy. Nothing heavy
is imported at module level; numpy (built-in generator) and datasets/pyarrow (Hub, Parquet) load on use only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from noisebench.errors import UsageError

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Folder with one sub-folder per dataset (default: $NOISEBENCH_DATA_DIR).")]


def _count_rows(path: Path) -> int:
    """Data rows of a TSV file with a header (lines minus one; a missing final newline still counts)."""
    data = path.read_bytes()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    return max(lines - 1, 0)


def _sizes(pairs) -> str:
    return " · ".join(f"{split} {n:,}" for split, n in pairs)


def _listing(data_dir: Path | None, wide: bool) -> None:
    from noisebench.commands.listing import Column, render
    from noisebench.datasets import DATASETS
    from noisebench.datasets.loading import local_copy, resolve_data_dir
    from noisebench.datasets.readers import split_files

    root = resolve_data_dir(data_dir)
    title = "datasets" + (f" (data dir {root})" if root else " (no data dir: --data-dir or $NOISEBENCH_DATA_DIR)")
    columns = [Column(c) for c in ("name", "classes", "rows", "source", "offline here", "licence")]
    rows = []
    for name, spec in DATASETS.items():
        classes = f"{spec.num_labels}: {', '.join(spec.label_names)}"
        folder = local_copy(spec, root)
        if spec.offline:
            sizes, source, here = _sizes(spec.sizes), "built-in generator", "yes (built-in)"
        elif folder is not None:
            source = f"{spec.local_dir}/ or Hub {spec.hub_ref}"
            try:
                files = split_files(folder)
            except UsageError:
                sizes, here = f"Hub: {_sizes(spec.sizes)}", f"no ({folder} has no split files)"
            else:
                sizes = _sizes((files[s].name, _count_rows(files[s]))
                               for s in ("train", "validation", "test", "all") if s in files)
                here = f"yes ({folder})"
        else:
            sizes = f"Hub: {_sizes(spec.sizes)}"
            source, here = f"{spec.local_dir}/ or Hub {spec.hub_ref}", "no (Hub only)"
        rows.append([name, classes, sizes, source, here, spec.licence])
    typer.echo(render(title, columns, rows, wide=wide), nl=False)


def _show(ds) -> None:
    from collections import Counter

    lines = [f"{ds.name}: {ds.num_labels} classes, source {ds.source}", f"fingerprint {ds.fingerprint}"]
    for split in ("train", "validation", "test"):
        examples = getattr(ds, split)
        counts = Counter(ex.label for ex in examples)
        per_class = ", ".join(f"{name} {counts.get(i, 0):,}" for i, name in enumerate(ds.label_names))
        lines.append(f"  {split:<10} {len(examples):>7,}  ({per_class})")
    lines += [f"  {key}: {value}" for key, value in ds.notes.items()]
    for ex in ds.test[:3]:
        text = ex.text if len(ex.text) <= 160 else ex.text[:157] + "..."
        lines.append(f"  e.g. [{ds.label_names[ex.label]}] {text}")
    typer.echo("\n".join(lines))


def export_tsv(ds, folder: Path) -> bool:
    """Write `ds` as train.tsv / validation.tsv / test.tsv / labels.tsv (text<TAB>label, quoting off; an `id`
    column first when the keys come from an id column, then True is returned). Refuses to overwrite files, and
    texts that TSV without quoting cannot hold."""
    from noisebench.store import atomic_write_text

    with_ids = all(ex.key == ex.id for split in (ds.train, ds.validation, ds.test) for ex in split)
    targets = [folder / f"{name}.tsv" for name in ("train", "validation", "test", "labels")]
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise UsageError(f"refusing to overwrite {', '.join(existing)}; choose an empty folder")
    bodies = []
    for split in ("train", "validation", "test"):
        rows = ["id\ttext\tlabel" if with_ids else "text\tlabel"]
        for ex in getattr(ds, split):
            fields = [ex.id, ex.text] if with_ids else [ex.text]
            if any(c in f for f in fields for c in "\t\n\r"):
                raise UsageError(f"{ds.name} {split} example {ex.id!r} contains a tab or line break, which TSV "
                                 f"with quoting off cannot hold")
            rows.append("\t".join(fields + [str(ex.label)]))
        bodies.append("\n".join(rows) + "\n")
    bodies.append("label\tname\n" + "".join(f"{i}\t{name}\n" for i, name in enumerate(ds.label_names)))
    for path, body in zip(targets, bodies, strict=True):
        atomic_write_text(path, body)
    return with_ids


def datasets(
    data_dir: DataDir = None,
    show: Annotated[str | None, typer.Option(
        "--show", metavar="NAME|PATH", help="Load one dataset (or your file/folder) and print its splits, "
        "class counts, how the splits were made, and its fingerprint.")] = None,
    export: Annotated[tuple[str, Path] | None, typer.Option(
        "--export", metavar="NAME|PATH DIR", help="Write a dataset as TSV files in the standard layout "
        "(train/validation/test.tsv, labels.tsv) into DIR.")] = None,
    text_col: Annotated[str | None, typer.Option("--text-col", help="Text column of your file.")] = None,
    label_col: Annotated[str | None, typer.Option("--label-col", help="Label column of your file.")] = None,
    id_col: Annotated[str | None, typer.Option("--id-col", help="Id column of your file (the noise key).")] = None,
    validation_fraction: Annotated[float, typer.Option(
        "--validation-fraction", help="Share of each class carved from train when there is no validation split.")]
    = 0.1,
    wide: Annotated[bool, typer.Option("--wide", help="The listing with every column, whatever the width.")] = False,
) -> None:
    """List the registered datasets, or --show / --export one.

    Registered names load from the built-in generator, from DATA_DIR/<folder>, else from the Hugging Face Hub.
    Your own data: a .csv/.tsv/.jsonl/.parquet file, a folder of train/validation|dev/test files, or a
    datasets.save_to_disk folder, with columns text (or sentence/note/document) and label, optionally an id.
    """
    if show is not None and export is not None:
        raise UsageError("use either --show or --export, not both")
    target = show if show is not None else (export[0] if export is not None else None)
    if target is None:
        _listing(data_dir, wide)
        return
    export_dir = export[1] if export is not None else None
    from noisebench.datasets import load_dataset

    ds = load_dataset(target, data_dir=None if data_dir is None else str(data_dir), text_col=text_col,
                      label_col=label_col, id_col=id_col, validation_fraction=validation_fraction)
    if show is not None:
        _show(ds)
        return
    assert export_dir is not None  # neither --show nor a listing: --export
    with_ids = export_tsv(ds, export_dir)
    typer.echo(f"noisebench: wrote train.tsv, validation.tsv, test.tsv, labels.tsv to {export_dir} (use it with "
               f"--dataset {export_dir}{' --id-col id' if with_ids else ''})", err=True)


def register(app: typer.Typer) -> None:
    app.command("datasets")(datasets)
