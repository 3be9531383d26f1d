"""The committed results, wherever a chapter runs (Colab included).

In a clone of the repository the chapters read ``results/<profile>/`` as it is. Installed from a
wheel or by ``pip install git+…`` (the published notebooks' setup cell, on Colab) the package
carries no results: :func:`committed_results` then fetches the tables of ``results/<profile>/`` into
``./results/<profile>/`` (or ``$GSEPCONV_RESULTS/<profile>/``) before the chapter reads them.

* What: every input table (CSV) of ``results/<profile>/`` and the film's model snapshots
  (``film_*.pt``, read as weights only), the derived ``figures/`` and ``tables/`` excluded (the
  chapters redraw those). The package ships their SHA-256 sums for each committed
  profile in ``results_manifest.json`` (:func:`write_manifest`, refreshed by ``gsepconv reproduce``
  and checked against ``results/`` by the tests), so a wheel built from a commit knows exactly
  which bytes that commit's results are.
* From where: ``source`` / ``$GSEPCONV_RESULTS_SOURCE`` (a folder, or a ``file://``/``https://``
  URL of a ``results/`` folder); by default the repository's raw files at the commit gsepconv was
  installed from (``direct_url.json``, :func:`~gsepconv.experiments.io.installed_commit`), or at
  ``main`` when the install recorded none; either way each file must match the manifest.
* Failure (offline, wrong commit, checksum mismatch): :class:`ResultsUnavailable` naming each
  missing file, why, and what to do; nothing is trained and no existing file is replaced (a local
  table that differs from the committed one is kept and reported).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import urllib.parse
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from gsepconv.data import storage
from gsepconv.data.storage import atomic_path
from gsepconv.experiments.folders import ROOT_MARKER, repo_root, results_dir
from gsepconv.experiments.io import atomic_write_text, installed_commit
from gsepconv.experiments.ondemand import MissingResults, check_train_mode
from gsepconv.progress import bars_enabled, tqdm

__all__ = [
    "ENV_SOURCE",
    "MANIFEST",
    "ResultsUnavailable",
    "committed_results",
    "read_manifest",
    "manifest_entries",
    "write_manifest",
    "default_source",
]

ENV_SOURCE = "GSEPCONV_RESULTS_SOURCE"
#: SHA-256 of every committed input table, by profile: ``{"quick": {"mnist_rot.csv": "<hex>", …}}``
MANIFEST = Path(__file__).with_name("results_manifest.json")
#: folders of ``results/<profile>/`` drawn from the tables (not fetched, not in the manifest)
DERIVED = ("figures", "tables")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.(csv|pt)$")
#: the files of ``results/<profile>/`` that the manifest lists
INPUTS = ("*.csv", "film_*.pt")
Log = Callable[[str], None]


class ResultsUnavailable(MissingResults):
    """The committed results could not be fetched (offline, wrong commit, checksum mismatch)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_entries(results: str | Path, profile: str) -> dict[str, str]:
    """``{file name: sha256}`` of the inputs in ``<results>/<profile>/`` (the CSVs and film snapshots
    directly in it, ``INPUTS``; ``figures/`` and ``tables/`` are drawn from them)."""
    folder = Path(results) / profile
    return {p.name: _sha256(p) for p in sorted(q for pattern in INPUTS for q in folder.glob(pattern))}


def read_manifest(path: str | Path | None = None) -> dict[str, dict[str, str]]:
    """The shipped manifest (``{}`` when the package has none). File names are checked to be
    plain ``*.csv`` or ``*.pt`` names: the manifest decides which files are written into the results folder."""
    path = Path(path or MANIFEST)
    if not path.is_file():
        return {}
    manifest = json.loads(path.read_text())
    for profile, files in manifest.items():
        bad = [name for name in files if not _SAFE_NAME.match(name)]
        if bad:
            raise ValueError(f"{path}: profile {profile!r} names files that are not plain CSV or .pt names: {bad}")
    return manifest


def write_manifest(results: str | Path, profiles: list[str], path: str | Path | None = None) -> bool:
    """Record the input tables of ``<results>/<profile>/`` for each of ``profiles`` in the manifest
    (other profiles kept); writes only when something changed. Returns whether it wrote."""
    path = Path(path or MANIFEST)
    manifest = read_manifest(path)
    updated = {**manifest, **{p: manifest_entries(results, p) for p in profiles}}
    updated = {p: files for p, files in sorted(updated.items()) if files}
    if updated == manifest and path.is_file():
        return False
    atomic_write_text(path, json.dumps(updated, indent=1, sort_keys=True) + "\n")
    return True


def _repository_url() -> str:
    """``Repository`` of the installed distribution's project URLs (pyproject.toml)."""
    try:
        urls = metadata.metadata("gsepconv").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip().rstrip("/")
    raise ResultsUnavailable(
        "the installed gsepconv names no repository (Project-URL 'Repository'), so the "
        f"committed results cannot be located; set ${ENV_SOURCE} to a folder or URL of them"
    )


def default_source() -> tuple[str, str]:
    """``(URL of the repository's results/ folder, what it is)``: the raw files at the commit pip
    installed gsepconv from, else at ``main``."""
    url = _repository_url()
    match = re.match(r"^https://github\.com/([^/]+)/([^/]+?)(?:\.git)?$", url)
    if not match:
        raise ResultsUnavailable(
            f"the repository {url} is not on GitHub; set ${ENV_SOURCE} to a folder or URL of its results/"
        )
    commit = installed_commit()
    ref = commit or "main"
    about = f"commit {commit[:12]}" if commit else "branch main (this install recorded no commit)"
    return f"https://raw.githubusercontent.com/{match.group(1)}/{match.group(2)}/{ref}/results", about


def _in_checkout() -> bool:
    return (repo_root() / ROOT_MARKER).is_file()


def _copy(source: str, profile: str, name: str, dest: Path) -> None:
    """Copy ``<source>/<profile>/<name>`` (a folder or a URL; the tables are small) to ``dest``."""
    scheme = urllib.parse.urlsplit(source).scheme
    if scheme in ("http", "https", "file"):
        with storage.urlopen(f"{source.rstrip('/')}/{profile}/{urllib.parse.quote(name)}", timeout=30.0) as response:
            dest.write_bytes(response.read())
    else:
        shutil.copyfile(Path(source) / profile / name, dest)


def committed_results(
    profile: str,
    train: str = "auto",
    *,
    source: str | Path | None = None,
    results: str | Path | None = None,
    log: Log = print,
) -> Path:
    """The folder holding ``results/<profile>/`` with the committed tables of ``profile`` in it:
    the repository's ``results/`` in a clone; elsewhere (Colab, a wheel) ``./results`` (or
    ``results`` / ``$GSEPCONV_RESULTS``), the missing tables fetched first from ``source`` (see the
    module). Nothing is fetched with ``train="always"`` (everything is remade) or for a profile
    whose results are not committed (``smoke``, ``paper``). Raises :class:`ResultsUnavailable`
    when a table cannot be fetched or fails its checksum."""
    check_train_mode(train)
    base = results_dir(profile, results).parent
    source = str(source) if source is not None else os.environ.get(ENV_SOURCE) or None
    wanted = read_manifest().get(profile, {})
    if train == "always" or not wanted or (source is None and _in_checkout()):
        return base
    folder = base / profile
    present = {name: folder / name for name in wanted if (folder / name).is_file()}
    differ = sorted(name for name, path in present.items() if _sha256(path) != wanted[name])
    if differ:
        log(
            f"kept {len(differ)} table(s) in {folder} that differ from the committed ones: {', '.join(differ)} "
            f"(delete them to get the committed tables)"
        )
    missing = [name for name in wanted if name not in present]
    if not missing:
        return base
    about = "the given source"
    if source is None:
        source, about = default_source()
    log(
        f"fetching the {len(missing)} committed result table(s) of profile {profile!r} from {source} ({about}) "
        f"into {folder} …"
    )
    failed: dict[str, str] = {}
    for name in tqdm(missing, desc="results", unit="file", disable=not bars_enabled(), leave=False):
        tmp = atomic_path(folder / name)
        try:
            _copy(source, profile, name, tmp)
            digest = _sha256(tmp)
            if digest != wanted[name]:
                failed[name] = f"checksum mismatch (sha256 {digest[:12]}…, expected {wanted[name][:12]}…)"
                continue
            os.replace(tmp, folder / name)
        except OSError as err:  # URLError, HTTPError and missing files are OSErrors
            failed[name] = str(getattr(err, "reason", None) or err.strerror or err)
        finally:
            tmp.unlink(missing_ok=True)
    if failed:
        lines = "\n".join(f"  {name}: {why}" for name, why in failed.items())
        raise ResultsUnavailable(
            f"{len(failed)} of the committed result tables of profile {profile!r} could not be fetched from "
            f"{source} ({about}) into {folder}:\n{lines}\nNothing was trained or overwritten. To go on: rerun "
            f"when online; or set ${ENV_SOURCE} to a folder or URL holding results/ of this gsepconv's commit "
            f"(e.g. a clone's results/); or produce them here with train='always', or in a clone with "
            f"`gsepconv reproduce --profile {profile} --train always`"
        )
    log(f"fetched {len(missing)} table(s), each matching the SHA-256 the installed gsepconv records")
    return base
