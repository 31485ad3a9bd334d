"""`noisebench noises` (the noise catalogue, or realized levels on a dataset) and `noisebench perturb` (show what a
noise does to some text).

Nothing heavy at module level: the noise engine (numpy), the dataset loader and rich are imported inside the command
bodies.

`noises --dataset NAME|PATH` perturbs one split (default test) of a dataset with every registered noise (or the
`--noise` ones, default options) at each `--rate`, keyed by the examples' own keys (`Example.key`: the id column, else
the sha256 of the text — exactly what a benchmark run uses), and prints the nominal rate next to the realized level
from `noisebench.noise.measure_dataset`: units changed / eligible units (pooled over the split), the character edit
ratio, and the fraction of examples changed. On real data some noises have few targets; this is where users see it.

`perturb` reads one TEXT argument, or `--file PATH` (UTF-8, one text per line), or stdin (one text per line). Each
text's example key is `--key` when given (single text only), else the sha256 hex digest of the text's UTF-8 bytes —
the same default the dataset loader uses for datasets without an id column, so a sentence gets the same noise here
as in a benchmark run with the same seed. Bad input (rate outside [0, 1], unknown noise or option, missing or
non-UTF-8 file) exits with code 2 and one line on stderr.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from noisebench.errors import UsageError


def noises(
    dataset: Annotated[str | None, typer.Option(
        "--dataset", metavar="NAME|PATH", help="Instead of the catalogue: perturb this dataset's split with each noise "
        "and print the realized level next to the nominal rate.")] = None,
    rate: Annotated[list[float] | None, typer.Option(
        "--rate", help="Nominal rate(s) for --dataset, repeatable (default 0.1).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for --dataset (default 0).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Split for --dataset: train|validation|test "
                                                               "(default test).")] = None,
    noise: Annotated[list[str] | None, typer.Option(
        "--noise", help="Only these noises for --dataset, repeatable (default: all registered).")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Folder with one sub-folder per dataset (default: $NOISEBENCH_DATA_DIR).")] = None,
    id_col: Annotated[str | None, typer.Option(
        "--id-col", help="Id column of your own file for --dataset: its values are the example keys (default: "
        "sha256 of the text).")] = None,
    plain: Annotated[bool, typer.Option("--plain", help="With --dataset: tab-separated rows with a header "
                                                        "(for piping).")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="The catalogue as one table, whatever the width.")] = False,
) -> None:
    """List the registered noises (unit, calibration, rate meaning, what is never touched, options), or with
    --dataset show each noise's realized level on a dataset next to its nominal rate."""
    if dataset is not None:
        _dataset_levels(dataset, rates=rate or [0.1], seed=0 if seed is None else seed, split=split or "test",
                        names=noise, data_dir=data_dir, id_col=id_col, plain=plain)
        return
    given = [flag for flag, value in (("--rate", rate), ("--seed", seed), ("--split", split), ("--noise", noise),
                                      ("--data-dir", data_dir), ("--id-col", id_col), ("--plain", plain or None))
             if value is not None]
    if given:
        raise UsageError(f"{', '.join(given)} applies only with --dataset NAME|PATH")
    from noisebench.commands.listing import Column, render
    from noisebench.noise import NOISES

    columns = [Column(c) for c in ("name", "unit", "calibrated", "rate meaning", "protects", "source", "options")]
    rows = []
    for name, spec in NOISES.items():
        options = "\n".join(
            f"{o}={'|'.join(meta['choices']) if meta.get('choices') else 'VALUE'} (default {meta['default']}): "
            f"{meta.get('help', '')}" for o, meta in spec.options.items()) or "-"
        needs = f" (needs {spec.requires})" if spec.requires else ""
        rows.append([name, spec.unit, "yes" if spec.calibrated else "no" + needs, spec.rate_meaning, spec.protects,
                     spec.source or "-", options])
    typer.echo(render("noisebench noises", columns, rows, wide=wide), nl=False)


SPLITS = ("train", "validation", "test")
LEVEL_COLUMNS = ("noise", "unit", "calibrated", "nominal_rate", "realized_unit_fraction", "units_changed",
                 "eligible_units", "edit_ratio", "changed_examples")


def _dataset_levels(dataset: str, *, rates: list[float], seed: int, split: str, names: list[str] | None,
                    data_dir: Path | None, id_col: str | None, plain: bool) -> None:
    """Realized level of each (noise, rate) on one split of a dataset (see the module docstring).

    Validates everything (rates, split, noise names) before loading the data; a noise whose optional package is
    missing gets a row saying so instead of numbers."""
    from noisebench.noise import NOISES, measure_dataset, perturb_batch, validate_rate

    rates = [validate_rate(r) for r in rates]
    if split not in SPLITS:
        from noisebench.errors import did_you_mean

        raise UsageError(f"unknown split {split!r}{did_you_mean(split, SPLITS)}; choose from: {', '.join(SPLITS)}")
    specs = [NOISES.get(n) for n in (names or NOISES.names())]
    from noisebench.datasets import load_dataset

    ds = load_dataset(dataset, data_dir=None if data_dir is None else str(data_dir), id_col=id_col)
    examples = getattr(ds, split)
    if not examples:
        raise UsageError(f"dataset {ds.name} has no {split} examples")
    texts, keys = [ex.text for ex in examples], [ex.key for ex in examples]
    rows: list[tuple] = []
    for spec in specs:
        missing = spec.requires and not _importable(spec.requires)
        for r in rates:
            if missing:
                rows.append((spec.name, spec.unit, spec.calibrated, r, None, f"needs {spec.requires}"))
                continue
            level = measure_dataset(texts, perturb_batch(texts, keys, noise=spec.name, rate=r, seed=seed),
                                    noise=spec.name)
            rows.append((spec.name, spec.unit, spec.calibrated, r, level, ""))
    title = f"realized noise levels: {ds.name} {split} split ({len(texts)} examples), seed {seed}, default options"
    if plain:
        typer.echo("\t".join(LEVEL_COLUMNS))
        for name, unit, calibrated, r, level, _ in rows:
            values = (["", "", "", "", ""] if level is None else
                      [f"{level.unit_fraction:.4f}", str(level.units_changed), str(level.units),
                       f"{level.edit_ratio:.4f}", f"{level.changed_examples:.4f}"])
            typer.echo("\t".join([name, unit, "yes" if calibrated else "no", f"{r:g}", *values]))
        for name, *_, note in rows:
            if note:
                typer.echo(f"# {name}: {note}", err=True)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="realized: units changed / eligible units; edit ratio: character edit distance / clean "
                          "length; texts: fraction of texts changed; * not calibrated (its realized level is "
                          "not its rate)")
    for column in ("noise", "unit", "rate", "realized", "units", "edit ratio", "texts"):
        table.add_column(column, justify="left" if column in ("noise", "unit") else "right", no_wrap=True)
    for name, unit, calibrated, r, level, note in rows:
        shown = name if calibrated else f"{name}*"
        if level is None:
            table.add_row(shown, unit, f"{r:g}", note, "", "", "")
            continue
        realized = f"{level.unit_fraction:.4f}" if level.units else "no targets"
        table.add_row(shown, unit, f"{r:g}", realized, f"{level.units_changed}/{level.units}",
                      f"{level.edit_ratio:.4f}", f"{level.changed_examples:.3f}")
    Console(highlight=False).print(table)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _parse_options(pairs: list[str] | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--option expects NAME=VALUE, got {pair!r}")
        options[name.strip()] = value
    return options


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{where} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None


def _lines(data: str) -> list[str]:
    """One text per line; the line break (\\n or \\r\\n) is not part of the text; a final newline ends the last."""
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _read_texts(text: str | None, file: Path | None) -> list[str]:
    if text is not None and file is not None:
        raise UsageError("give either TEXT or --file, not both")
    if text is not None:
        return [text]
    if file is not None:
        if not file.exists():
            raise UsageError(f"file not found: {file}")
        if not file.is_file():
            raise UsageError(f"not a file: {file}")
        return _nonempty(_lines(_decode(file.read_bytes(), str(file))), str(file))
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("give a TEXT argument, --file PATH, or pipe texts on stdin (one per line)")
    return _nonempty(_lines(_decode(sys.stdin.buffer.read(), "stdin")), "stdin")


def _nonempty(texts: list[str], where: str) -> list[str]:
    if not texts:
        raise UsageError(f"no input: {where} is empty (give one text per line)")
    return texts


HIGHLIGHT_LIMIT = 2_000  # a longer text is shown highlighted up to here, then summarised


def _highlighted(clean: str, noisy: str):
    """(clean, noisy) as rich Texts: removed/replaced characters red on the clean side, new ones green. A clean
    text over HIGHLIGHT_LIMIT characters shows its first HIGHLIGHT_LIMIT and the aligned part of the noisy text,
    then how much was left out (the realized level below still covers the whole text)."""
    from rich.text import Text

    from noisebench.noise.align import opcodes

    ops = opcodes(clean, noisy)
    cut_i, cut_j = len(clean), len(noisy)
    if len(clean) > HIGHLIGHT_LIMIT:
        cut_i = HIGHLIGHT_LIMIT
        for tag, i1, i2, j1, j2 in ops:  # the noisy position aligned with the cut
            if i2 >= cut_i:
                cut_j = j1 + (cut_i - i1 if tag == "equal" else (j2 - j1 if cut_i == i2 else 0))
                break
    before, after = Text(clean[:cut_i]), Text(noisy[:cut_j])
    for tag, i1, i2, j1, j2 in ops:
        if i1 >= cut_i and j1 >= cut_j:
            break
        if tag != "equal":
            before.stylize("bold red reverse", i1, min(i2, cut_i))
            after.stylize("bold green reverse", j1, min(j2, cut_j))
    if cut_i < len(clean):
        before.append(f" … (first {cut_i:,} of {len(clean):,} characters shown)", style="dim")
        after.append(f" … (first {cut_j:,} of {len(noisy):,} characters shown)", style="dim")
    return before, after


def perturb(
    text: Annotated[str | None, typer.Argument(help="The text (omit to read --file or stdin, one text per line).")]
    = None,
    file: Annotated[Path | None, typer.Option("--file", help="UTF-8 file with one text per line.")] = None,
    noise: Annotated[str, typer.Option("--noise", help="Noise name (see `noisebench noises`), or noises applied "
                                                       "in order: casing+substitute.")] = "substitute",
    rate: Annotated[str, typer.Option("--rate", metavar="NUMBER", help="Noise rate in [0, 1] (see the noise's rate "
                                      "meaning); a composition has one per noise: 1.0+0.05.")] = "0.1",
    seed: Annotated[int, typer.Option("--seed", help="Seed (the same one a benchmark run uses).")] = 0,
    key: Annotated[str | None, typer.Option(
        "--key", help="Example key (single text only; default: sha256 hex of the text's UTF-8 bytes).")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="Noise option as NAME=VALUE, repeatable (e.g. --option mode=keyboard; in a composition "
        "NOISE.NAME=VALUE).")] = None,
    plain: Annotated[bool, typer.Option("--plain", help="Print only the noisy texts, one per line.")] = False,
) -> None:
    """Perturb text and show the edits and the realized noise level."""
    from noisebench.config import parse_rate
    from noisebench.noise import composition, measure, measure_dataset, perturb_batch, validate_options

    value = parse_rate(rate)
    parts = composition(noise)
    if parts is not None:
        _perturb_composed(text, file, noise, parts, value, seed, key, option, plain)
        return
    if isinstance(value, tuple):
        raise UsageError(f"--rate {rate} has {len(value)} parts, but {noise!r} is one noise (compose noises with "
                         "+, e.g. --noise casing+substitute --rate 1.0+0.05)")
    options = validate_options(noise, _parse_options(option))
    texts, keys = _texts_and_keys(text, file, key)
    noisy = perturb_batch(texts, keys, noise=noise, rate=value, seed=seed, **options)
    if plain:
        for line in noisy:
            typer.echo(line)
        return
    console = _console()
    for i, (clean, new) in enumerate(zip(texts, noisy, strict=True)):
        _show_pair(console, i, texts, keys, clean, new)
        console.print("realized: " + _level_line(measure(clean, new, noise=noise, **options), noise, value))
    if len(texts) > 1:
        total = measure_dataset(texts, noisy, noise=noise, **options)
        console.print(f"all {len(texts)} texts: unit fraction {total.unit_fraction:.4f} "
                      f"({total.units_changed}/{total.units}), edit ratio {total.edit_ratio:.4f}, "
                      f"changed examples {total.changed_examples:.3f}")
    _calibration_note(console, [noise])


def _texts_and_keys(text: str | None, file: Path | None, key: str | None) -> tuple[list[str], list[str]]:
    texts = _read_texts(text, file)
    if key is not None and len(texts) != 1:
        raise UsageError(f"--key applies to a single text, but {len(texts)} were given "
                         "(without --key each line is keyed by the sha256 of its text)")
    return texts, [key] if key is not None else [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _show_pair(console, i: int, texts: list[str], keys: list[str], clean: str, new: str) -> None:
    from rich.text import Text

    before, after = _highlighted(clean, new)
    if len(texts) > 1:
        console.print(Text(f"[{i + 1}] key {keys[i][:16]}", style="dim"))
    console.print(Text("clean: ", style="bold").append_text(before))
    console.print(Text("noisy: ", style="bold").append_text(after))


def _level_line(level, noise: str, rate: float) -> str:
    from noisebench.noise import NOISES

    unit = {"character": "characters", "word": "words", "span": "spans"}[NOISES.get(noise).unit]
    return (f"{level.units_changed}/{level.units} eligible {unit} changed (unit fraction {level.unit_fraction:.3f}, "
            f"nominal rate {rate:g}); edit ratio {level.edit_ratio:.3f} ({level.edits} edits / {level.length} "
            "characters)")


def _calibration_note(console, names: list[str]) -> None:
    from noisebench.noise import NOISES

    for name in names:
        if not NOISES.get(name).calibrated:
            console.print(f"note: {name} is not calibrated: its realized level is not its rate", style="yellow")


def _perturb_composed(text: str | None, file: Path | None, noise: str, parts: list[str],
                      rate: float | tuple[float, ...], seed: int, key: str | None, option: list[str] | None,
                      plain: bool) -> None:
    """`perturb --noise a+b --rate ra+rb`: the noises in order; each part's realized level is measured against the
    text it was given, over the units it was allowed to edit."""
    from noisebench.noise import composed_steps, measure_dataset, perturb_chain_steps, validate_options

    if not isinstance(rate, tuple) or len(rate) != len(parts):
        raise UsageError(f"--noise {noise} composes {len(parts)} noises: give one rate per noise, e.g. --rate "
                         + "+".join(["0.1"] * len(parts)))
    raw: dict[str, dict[str, str]] = {}
    for name, value in _parse_options(option).items():
        part, dot, opt = name.partition(".")
        if not dot or part not in parts:
            raise UsageError(f"--option {name}={value}: in a composition write NOISE.NAME=VALUE with NOISE one of "
                             f"{', '.join(parts)}")
        raw.setdefault(part, {})[opt] = value
    options = {p: validate_options(p, raw.get(p, {})) for p in parts}
    texts, keys = _texts_and_keys(text, file, key)
    outputs = perturb_chain_steps(texts, keys, composed_steps(noise, rate, options), seed=seed)
    noisy = outputs[-1].texts
    if plain:
        for line in noisy:
            typer.echo(line)
        return
    console = _console()
    for i, (clean, new) in enumerate(zip(texts, noisy, strict=True)):
        _show_pair(console, i, texts, keys, clean, new)
        for out in outputs:
            level = measure_dataset([out.given[i]], [out.texts[i]], noise=out.step.noise,
                                    protected=[out.protected[i]], **out.step.options)
            console.print(f"realized {out.step.noise}: " + _level_line(level, out.step.noise, out.step.rate))
    _calibration_note(console, parts)


def register(app: typer.Typer) -> None:
    app.command("noises")(noises)
    app.command("perturb")(perturb)
