"""The frames of chapter 02's animation (gsepconv.analysis.film) and their offline rendering:
shapes, quarter turns exact on the pixel grid, errors measured (not assumed) elsewhere."""

from __future__ import annotations

import math
import re

import pytest
import torch

from gsepconv.analysis.film import film_config, film_errors, lift_and_group_conv, oriented_channel, rotation_film
from gsepconv.analysis.plots import film_animation, offline_jshtml
from gsepconv.analysis.sweeps import demo_image
from gsepconv.companion import save_animation
from gsepconv.models import build_model


def _stage(group: str) -> torch.nn.Module:
    torch.manual_seed(0)
    extra = {"implementation": "dseparable", "num_elements": 8} if group == "SE2" else {}
    model = build_model(
        arch="resnet", group=group, widths=(3, 4), kernel_size=5, in_channels=1, num_classes=10, **extra
    )
    return lift_and_group_conv(model).double().eval()


@pytest.fixture(scope="module")
def film():
    models = {"se2": _stage("SE2"), "cnn": _stage("Z2")}
    return models, rotation_film(models, demo_image(29)[0, 0], num_frames=16)


def test_frames_have_the_documented_shapes(film):
    _, f = film
    assert f.angles.tolist() == [22.5 * t for t in range(16)]
    assert f.images.shape == (16, 29, 29)
    assert f.maps["se2"].shape == (16, 8, 29, 29) and f.maps["cnn"].shape == (16, 1, 29, 29)
    assert set(f.channels) == {"se2", "cnn"} and all(0 <= c < 4 for c in f.channels.values())
    assert f.maps["se2"].abs().sum() > 0 and f.maps["cnn"].abs().sum() > 0


def test_quarter_turn_frames_are_the_rotated_rolled_first_frame(film):
    _, f = film
    assert torch.equal(f.images[f.frame_of(90)], torch.rot90(f.images[0], 1, dims=(-2, -1)))
    se2, cnn = f.maps["se2"], f.maps["cnn"]
    for k in (1, 2, 3):
        expected = torch.roll(torch.rot90(se2[0], k, dims=(-2, -1)), 2 * k, dims=0)
        assert (se2[f.frame_of(90 * k)] - expected).abs().max() <= 1e-12 * se2[0].abs().max()
        plain = torch.rot90(cnn[0], k, dims=(-2, -1))
        assert (cnn[f.frame_of(90 * k)] - plain).norm() > 1e-3 * plain.norm()  # a plain CNN does not follow


def test_errors_are_round_off_at_quarter_turns_and_measured_elsewhere(film):
    models, f = film
    errors = film_errors(models, f).set_index(["model", "angle"])["error"]
    assert len(errors) == 2 * 16
    for angle in (90.0, 180.0, 270.0):
        assert errors["se2", angle] < 1e-12
        assert errors["cnn", angle] > 1e-3
    assert 1e-12 < errors["se2", 45.0] < errors["cnn", 45.0]  # interpolated: small, not zero
    assert math.isnan(errors["se2", 22.5])  # between grid elements: no roll is defined
    assert errors["cnn"].notna().all()


def test_bad_input_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="multiple of 4"):
        rotation_film({"m": _stage("Z2")}, demo_image(29)[0, 0], num_frames=6)
    with pytest.raises(ValueError, match="square image"):
        rotation_film({"m": _stage("Z2")}, torch.zeros(29, 31), num_frames=4)
    with pytest.raises(ValueError, match="'SE2' or 'Z2'"):
        film_config("Sim2", "smoke")
    with pytest.raises(ValueError, match=r"\[C, N, H, W\]"):
        oriented_channel(torch.zeros(3, 5, 5))


def test_the_animation_renders_offline_and_deterministically(film, tmp_path):
    import matplotlib.pyplot as plt

    _, f = film
    fig, anim = film_animation(f)
    html = offline_jshtml(anim, fps=8)
    again, anim_again = film_animation(f)
    assert offline_jshtml(anim_again, fps=8) == html  # the same frames give the same bytes
    plt.close(again)
    assert html.count("data:image/png;base64") == 16
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) and "font-awesome" not in html
    assert 'class="fa' not in html
    gif = save_animation(anim, "02_film_test", "smoke", root=tmp_path, fps=8)
    plt.close(fig)
    assert gif == tmp_path / "smoke" / "figures" / "02_film_test.gif" and gif.read_bytes()[:6] == b"GIF89a"
    with pytest.raises(ValueError, match="plain file stem"):
        save_animation(anim, "../x", "smoke", root=tmp_path)


def test_film_weights_come_from_the_snapshot_without_runs_or_training(tmp_path):
    """A trained film model is kept as results/<profile>/film_<group>.pt; a reader with that file and
    no runs folder (Colab, a fresh clone) gets the same features without training; a snapshot of
    another run is ignored, a damaged one is reported with what to do."""
    from gsepconv.analysis.film import film_features, film_snapshot_path
    from gsepconv.experiments.runfolder import RunFolderError

    config = film_config("Z2", "smoke", widths=(3, 4), train_subset=32, eval_subset=16, batch_size=16)
    results = tmp_path / "results"
    trained, metrics = film_features(config, runs=tmp_path / "runs", results=results)
    snapshot = film_snapshot_path(config, results)
    assert snapshot == results / "smoke" / "film_Z2.pt" and snapshot.is_file()

    x = torch.rand(2, 1, 29, 29, dtype=torch.float64)
    again, metrics_again = film_features(config, runs=tmp_path / "no-runs", results=results, allow_training=False)
    assert not (tmp_path / "no-runs").exists()  # nothing trained, no runs folder made
    assert metrics_again["test_acc"] == metrics["test_acc"]
    assert torch.equal(again(x), trained(x))

    other = film_config("Z2", "smoke", widths=(3, 4), train_subset=32, eval_subset=16, batch_size=16, seed=1)
    with pytest.raises(FileNotFoundError, match="film_Z2.pt"):  # another run's snapshot is not used
        film_features(other, runs=tmp_path / "no-runs", results=results, allow_training=False)

    snapshot.write_bytes(b"not a checkpoint")
    with pytest.raises(RunFolderError, match="film_Z2.pt"):
        film_features(config, runs=tmp_path / "no-runs", results=results, allow_training=False)
