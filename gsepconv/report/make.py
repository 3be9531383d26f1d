"""Redraw every figure and rewrite every summary table of a profile from its CSVs (no training).

Outputs go to ``results/<profile>/figures/<name>.png`` and ``.svg``
(:func:`gsepconv.analysis.style.save_figure`) and ``results/<profile>/tables/<name>.csv`` (atomic
writes). Every product names the inputs it is drawn from; a product whose inputs are missing is
never left behind from an earlier call: :func:`make_all` either refuses (required inputs) or
deletes its old files (optional inputs, or ``allow_missing=True``).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from gsepconv.analysis.style import FORMATS, save_figure, set_style
from gsepconv.experiments.folders import figures_dir, results_dir
from gsepconv.experiments.io import atomic_write_text
from gsepconv.experiments.profiles import get_profile
from gsepconv.report import figures as F
from gsepconv.report.claims import claims_table
from gsepconv.report.comparisons import fidelity_table
from gsepconv.report.diagnostics import equivariance_table, redundancy_summary
from gsepconv.report.efficiency import efficiency_table, original_comparison, speedups, sweep_table
from gsepconv.report.inputs import INPUTS, input_path, load_inputs
from gsepconv.report.provenance import provenance_table
from gsepconv.report.summaries import experiment_summary, experiment_table, history_curves

__all__ = ["Product", "PRODUCTS", "NATURAL_IMAGES", "EXPERIMENT_INPUTS", "make_all", "tables_dir", "write_table"]

Data = Mapping[str, pd.DataFrame]

#: experiments drawn in the natural-images figure, when their results exist
NATURAL_IMAGES = ("cifar10", "cifar100", "galaxy10")


@dataclass(frozen=True)
class Product:
    """A figure or table: ``make(data, profile)`` returns a matplotlib figure (``kind="figure"``) or
    a DataFrame (``kind="table"``); ``inputs`` must all be present; ``uses`` are read when present."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    make: Callable[[Data, str], Any]
    uses: tuple[str, ...] = ()


EXPERIMENT_INPUTS = ("mnist_rot", "mnist_rot_budget", "rotations", *NATURAL_IMAGES)


def _with_summaries(data: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``data`` plus ``"<experiment>:summary"`` (:func:`~gsepconv.report.summaries.experiment_summary`,
    computed once) for every experiment present."""
    out = dict(data)
    out.update({f"{n}:summary": experiment_summary(data[n]) for n in EXPERIMENT_INPUTS if n in data})
    return out


def _summary(name: str) -> Callable[[Data, str], pd.DataFrame]:
    return lambda d, p: d[f"{name}:summary"]


def _display(name: str) -> Callable[[Data, str], pd.DataFrame]:
    return lambda d, p: experiment_table(d[name])[1]


def _vs_original(data: Data, profile: str) -> pd.DataFrame:
    """The side-by-side table with the original code, or, for a benchmark measured without it
    (``gsepconv reproduce`` runs ``bench`` without ``--against``), one row that says how to measure
    it: the book embeds this table, and a table with no rows fails its strict build."""
    table = original_comparison(data["efficiency"])
    if table.empty:
        command = f"gsepconv bench --profile {profile} --against <checkout of the original code>"
        table = pd.DataFrame([{"model": f"not measured with this benchmark: {command}"}], columns=table.columns)
    return table


def _settings(data: Data) -> dict[str, str]:
    return {n: experiment_table(data[n])[0] for n in EXPERIMENT_INPUTS if n in data}


def _provenance(data: Data, profile: str, root: str | Path | None) -> pd.DataFrame:
    """Provenance per input; a history inherits the provenance of its runs' rows in the results."""
    paths = {n: input_path(n, profile, root) for n in data}
    table = provenance_table(data, paths, _settings(data))
    for name, frame in data.items():
        base = name.removesuffix("_history")
        if name != base and base in data and "run_id" in frame:
            runs = data[base][data[base]["run_id"].isin(set(frame["run_id"]))]
            inherited = provenance_table({name: runs}, {name: paths[name]}).iloc[0]
            columns = ["profile", "git_commit", "date", "device", "torch_version"]
            table.loc[table["input"] == name, columns] = inherited[columns].to_numpy()
            table.loc[table["input"] == name, "settings"] = f"per-epoch rows of the runs in {paths[base].name}"
    return table


def _provenance_columns(data: Data, profile: str, root: str | Path | None) -> pd.DataFrame:
    """The provenance table as the results page shows it: without the long ``settings`` column
    (its own table, ``settings``), the ``file`` column (always ``<input>.csv``) and the ``profile``
    column unless it varies (the caption names the profile), so that it fits the page's width.
    The input CSVs keep the full provenance in every row."""
    table = _provenance(data, profile, root).drop(columns=["settings", "file"])
    return table.drop(columns=["profile"]) if table["profile"].nunique() <= 1 else table


def _settings_table(data: Data, profile: str, root: str | Path | None) -> pd.DataFrame:
    """``input, settings``: the settings all runs of each input share (long text, its own table)."""
    return _provenance(data, profile, root)[["input", "settings"]]


def _products(root: str | Path | None) -> list[Product]:
    title = "Rotated MNIST"
    return [
        Product(
            "mnist_rot_accuracy_vs_params",
            "figure",
            ("mnist_rot",),
            lambda d, p: F.accuracy_vs(
                d["mnist_rot:summary"], "params", title=f"{title}: test accuracy against parameters ({p})"
            ),
        ),
        Product(
            "mnist_rot_accuracy_vs_time",
            "figure",
            ("mnist_rot",),
            lambda d, p: F.accuracy_vs(
                d["mnist_rot:summary"], "train_time_s", title=f"{title}: test accuracy against training time ({p})"
            ),
        ),
        Product(
            "mnist_rot_val_vs_wallclock",
            "figure",
            ("mnist_rot", "mnist_rot_history"),
            lambda d, p: F.validation_vs_wallclock(
                history_curves(d["mnist_rot_history"], d["mnist_rot"]),
                title=f"{title}: validation accuracy during training ({p})",
            ),
        ),
        Product(
            "mnist_rot_budget_accuracy",
            "figure",
            ("mnist_rot_budget",),
            lambda d, p: F.budget_accuracy(d["mnist_rot_budget:summary"]),
        ),
        Product(
            "mnist_rot_budget_val_vs_wallclock",
            "figure",
            ("mnist_rot_budget", "mnist_rot_budget_history"),
            lambda d, p: F.validation_vs_wallclock(
                history_curves(d["mnist_rot_budget_history"], d["mnist_rot_budget"]),
                title=f"{title}, equal training time: validation accuracy during training ({p})",
            ),
        ),
        Product(
            "rotations_sweep",
            "figure",
            ("rotations",),
            lambda d, p: F.rotations_sweep(
                d["rotations:summary"], title=f"{title}: separable vs non-separable against N ({p})"
            ),
        ),
        Product(
            "natural_images_accuracy",
            "figure",
            ("cifar10",),
            lambda d, p: F.natural_images({n: d[f"{n}:summary"] for n in NATURAL_IMAGES if n in d}),
            uses=NATURAL_IMAGES[1:],
        ),
        Product("efficiency_models", "figure", ("efficiency",), lambda d, p: F.efficiency_bars(d["efficiency"])),
        Product(
            "efficiency_sweep", "figure", ("efficiency_sweep",), lambda d, p: F.sweep_curves(d["efficiency_sweep"])
        ),
        Product(
            "efficiency_sweep_speedup",
            "figure",
            ("efficiency_sweep",),
            lambda d, p: F.sweep_speedups(
                d["efficiency_sweep"], title="Training speed-up of separable kernels against N and image size"
            ),
        ),
        Product(
            "equivariance_errors", "figure", ("equivariance",), lambda d, p: F.equivariance_bars(d["equivariance"])
        ),
        Product("redundancy_energy", "figure", ("redundancy",), lambda d, p: F.redundancy_bars(d["redundancy"])),
        Product("mnist_rot", "table", ("mnist_rot",), _display("mnist_rot")),
        Product("mnist_rot_summary", "table", ("mnist_rot",), _summary("mnist_rot")),
        Product("mnist_rot_budget", "table", ("mnist_rot_budget",), _display("mnist_rot_budget")),
        Product("mnist_rot_budget_summary", "table", ("mnist_rot_budget",), _summary("mnist_rot_budget")),
        Product("rotations", "table", ("rotations",), _display("rotations")),
        Product("rotations_summary", "table", ("rotations",), _summary("rotations")),
        *[Product(n, "table", (n,), _display(n)) for n in NATURAL_IMAGES],
        *[Product(f"{n}_summary", "table", (n,), _summary(n)) for n in NATURAL_IMAGES],
        Product("efficiency", "table", ("efficiency",), lambda d, p: efficiency_table(d["efficiency"])),
        Product("efficiency_speedups", "table", ("efficiency",), lambda d, p: speedups(d["efficiency"])),
        Product("efficiency_vs_original", "table", ("efficiency",), _vs_original),
        Product("fidelity", "table", ("fidelity",), lambda d, p: fidelity_table(d["fidelity"])),
        Product("efficiency_sweep", "table", ("efficiency_sweep",), lambda d, p: sweep_table(d["efficiency_sweep"])),
        Product("equivariance", "table", ("equivariance",), lambda d, p: equivariance_table(d["equivariance"])),
        Product("redundancy", "table", ("redundancy",), lambda d, p: redundancy_summary(d["redundancy"])),
        Product(
            "claims", "table", (), lambda d, p: claims_table({n: d[n] for n in INPUTS if n in d}, p), uses=tuple(INPUTS)
        ),
        Product(
            "provenance",
            "table",
            (),
            lambda d, p: _provenance_columns({n: d[n] for n in INPUTS if n in d}, p, root),
            uses=tuple(INPUTS),
        ),
        Product(
            "settings",
            "table",
            (),
            lambda d, p: _settings_table({n: d[n] for n in INPUTS if n in d}, p, root),
            uses=tuple(INPUTS),
        ),
    ]


#: names and inputs of everything :func:`make_all` writes (for documentation and tests)
PRODUCTS: tuple[Product, ...] = tuple(_products(None))


def tables_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """``results/<profile>/tables/``."""
    return results_dir(profile, results_root) / "tables"


def write_table(frame: pd.DataFrame, name: str, profile: str, results_root: str | Path | None = None) -> Path:
    """Write ``frame`` to ``results/<profile>/tables/<name>.csv`` atomically (no index)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return atomic_write_text(tables_dir(profile, results_root) / f"{name}.csv", buffer.getvalue())


def _outputs(product: Product, profile: str, root: str | Path | None) -> list[Path]:
    if product.kind == "figure":
        return [figures_dir(profile, root) / f"{product.name}.{fmt}" for fmt in FORMATS]
    return [tables_dir(profile, root) / f"{product.name}.csv"]


def make_all(profile: str, results_root: str | Path | None = None, *, allow_missing: bool = False) -> dict[str, Any]:
    """Redraw every figure and rewrite every summary table of ``profile`` from the CSVs in
    ``<results_root>/<profile>/`` (default: ``$GSEPCONV_RESULTS`` or ``<repository>/results``).

    Raises :class:`~gsepconv.report.inputs.MissingInputs` (before writing anything) naming every
    missing required CSV and the command that produces it, unless ``allow_missing``, which draws
    what the present inputs allow. Products of missing inputs have their old files deleted.

    Returns ``{"figures": {name: {"png": path, "svg": path}}, "tables": {name: path},
    "inputs": {name: path}, "skipped": {name: reason}, "seconds": float}``.
    """
    get_profile(profile)  # ValueError naming the valid profiles
    start = time.perf_counter()
    inputs = load_inputs(profile, results_root, allow_missing=allow_missing)
    data = _with_summaries(inputs)
    set_style()
    out: dict[str, Any] = {
        "figures": {},
        "tables": {},
        "skipped": {},
        "inputs": {n: input_path(n, profile, results_root) for n in inputs},
    }
    for product in _products(results_root):
        absent = [n for n in product.inputs if n not in data]
        if absent:
            for path in _outputs(product, profile, results_root):
                path.unlink(missing_ok=True)  # never leave a figure drawn from data that is gone
            out["skipped"][f"{product.kind}:{product.name}"] = "missing " + ", ".join(
                f"{INPUTS[n].files[0]} (`{INPUTS[n].command_for(profile)}`)" for n in absent
            )
            continue
        result = product.make(data, profile)
        if product.kind == "figure":
            out["figures"][product.name] = save_figure(result, product.name, profile, root=results_root)
            plt.close(result)
        else:
            out["tables"][product.name] = write_table(result, product.name, profile, results_root)
    out["seconds"] = time.perf_counter() - start
    return out
