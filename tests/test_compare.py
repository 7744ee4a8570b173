"""swint compare on real (tiny) runs: table, diff, compare.csv, report.md, plots, damage."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.compare import plots
from swint_cli.compare.summary import COLUMNS, config_diff, summarize_run
from swint_cli.recipe import dump_recipe, load_recipe
from swint_cli.runs import EPOCH_COLUMNS, create_report_dir, read_run
from swint_cli.runs.info import flatten
from swint_cli.train import TrainOptions, train

QUICKSTART = Path(__file__).resolve().parent.parent / "recipes" / "quickstart.yaml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

runner = CliRunner()


def _train(runs_dir: Path, name: str, learning_rate: float) -> Path:
    recipe = load_recipe(
        QUICKSTART,
        [
            f"output.runs_dir={runs_dir}",
            f"output.name={name}",
            "training.epochs=2",
            "training.batch_size=16",
            "training.warmup_batches=2",
            f"training.optimizer.learning_rate={learning_rate}",
            "data.train_size=64",
            "data.val_size=32",
            "data.num_workers=0",
        ],
    )
    result = train(recipe, TrainOptions(quiet=True))
    assert result.status == "finished", result.message
    assert result.run_dir is not None
    return result.run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two finished two-epoch runs that differ in the learning rate."""
    root = tmp_path_factory.mktemp("runs")
    return _train(root, "a", 0.002), _train(root, "b", 0.004)


def check_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 10_000
    assert matplotlib.image.imread(path).shape[:2] == (480, 1200)  # 10 x 4 in at 120 dpi


def test_two_runs_give_table_diff_csv_report_and_plots(runs, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", *map(str, runs), "--out", str(out), "--no-group"])
    assert result.exit_code == 0, result.output
    assert "best val acc1" in result.output
    assert "training.optimizer.learning_rate" in result.output
    assert "output.name" not in result.output

    table = pd.read_csv(out / "compare.csv")
    assert list(table.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert list(table["run"]) == [run.name for run in runs]
    assert list(table["epochs_done"]) == [2, 2]
    assert list(table["status"]) == ["finished", "finished"]
    assert not table["damaged"].any()
    assert (table["median_step_ms"] > 0).all() and (table["images_per_s"] > 0).all()
    assert table["best_val_acc1"].between(0, 1).all()
    assert list(table["training.optimizer.learning_rate"]) == [0.002, 0.004]

    report = (out / "report.md").read_text()
    assert "| training.optimizer.learning_rate | 0.002 | 0.004 |" in report
    assert "![curves.png](curves.png)" in report
    check_png(out / "curves.png")
    check_png(out / "step_time.png")

    # a glob like runs/* also matches report directories: they are skipped, not fatal
    again = runner.invoke(
        app, ["compare", *map(str, runs), str(out), "--out", str(out), "--no-group"]
    )
    assert again.exit_code == 2
    assert "not empty" in again.output
    again = runner.invoke(
        app, ["compare", *map(str, runs), str(out), "--out", str(tmp_path / "2"), "--no-group"]
    )
    assert again.exit_code == 0, again.output
    assert f"skipping {out}: a swint compare report" in again.output


def test_damaged_run_shows_what_is_readable_and_is_marked(runs, tmp_path: Path) -> None:
    run = Path(shutil.copytree(runs[1], tmp_path / runs[1].name))
    epochs = (run / "epochs.csv").read_bytes()
    (run / "epochs.csv").write_bytes(epochs[:-7])  # the second epoch's row cut mid-line
    with open(run / "batches.csv", "a", encoding="utf-8") as table:
        table.write("garbage\n2,9,abc,0.5,16,1.0,2.0,3.0,0\n1,2,3,4,5,6,7,8,9,10,11\n")
    (run / "env.json").unlink()

    damaged = read_run(run)
    assert len(damaged.epochs) == 1 and damaged.missing == ["env.json"]
    assert damaged.problems == [
        "epochs.csv: last line cut off (dropped)",
        "batches.csv: 3 unreadable rows skipped",
    ]
    assert len(damaged.batches) == 8  # 2 epochs x 4 steps, all intact

    out = tmp_path / "report"
    result = runner.invoke(
        app, ["compare", str(runs[0]), str(run), "--out", str(out), "--no-group"]
    )
    assert result.exit_code == 0, result.output
    assert "damaged" in result.output
    row = pd.read_csv(out / "compare.csv").iloc[1]
    assert bool(row["damaged"]) and "last line cut off" in row["problems"]
    assert row["epochs_done"] == 2  # from summary.json
    first_epoch = pd.read_csv(runs[1] / "epochs.csv").iloc[0]
    assert row["final_val_acc1"] == pytest.approx(first_epoch["val_acc1"])
    assert "missing env.json" in (out / "report.md").read_text()
    check_png(out / "curves.png")


def test_no_run_at_all_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bench-20260101-000000").mkdir()
    (tmp_path / "bench-20260101-000000" / "bench.csv").write_text("level\n")
    (tmp_path / "notes.txt").write_text("hello")
    paths = [str(p) for p in sorted(tmp_path.iterdir())]
    result = runner.invoke(app, ["compare", *paths, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "error: none of the 3 paths given is a readable run directory" in result.output
    assert "a swint bench report" in result.output and "not a directory" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_flatten_and_config_diff(runs) -> None:
    assert flatten({"a": {"b": [1, {"c": None}], "d": []}}) == {
        "a.b[0]": 1,
        "a.b[1].c": None,
        "a.d": [],
    }
    a, b = read_run(runs[0]), read_run(runs[1])
    b.recipe["model"]["replace"].pop()
    diff = dict(config_diff([a, b]))
    assert diff["training.optimizer.learning_rate"] == [0.002, 0.004]
    assert diff["model.replace"] == ["2 entries", "1 entry"]  # one row for the rule list
    assert not any(key.startswith(("output.", "env.")) for key in diff)


def test_report_dirs_are_never_reused(tmp_path: Path) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5)
    first = create_report_dir(None, "compare", tmp_path, now)
    second = create_report_dir(None, "compare", tmp_path, now)
    assert (first.name, second.name) == ("compare-20260102-030405", "compare-20260102-030405-2")


def test_last_three_epochs_are_averaged(tmp_path: Path) -> None:
    """Five epochs of val_acc1 0.1 .. 0.5: best 0.5, final 0.5, last-3 mean 0.4."""
    run = tmp_path / "five"
    run.mkdir()
    rows = [f"{e},0.01,1.0,0.5,1.0,{e / 10},0.9,2.0,10.0" for e in range(1, 6)]
    (run / "epochs.csv").write_text(",".join(EPOCH_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    row = summarize_run(read_run(run))
    assert (row["best_val_acc1"], row["final_val_acc1"]) == (0.5, 0.5)
    assert row["last3_val_acc1"] == pytest.approx(0.4)
    assert row["last3_val_acc5"] == pytest.approx(0.9)


def _epochs_run(path: Path, header: str, rows: list[str]) -> Path:
    path.mkdir()
    (path / "epochs.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _drawn_metric(runs: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The right-hand axes plot_curves draws for these runs: (title, y values of each line)."""
    figures = []
    monkeypatch.setattr(plots, "_save", lambda figure, path: figures.append(figure))
    plots.plot_curves([read_run(run) for run in runs], tmp_path / "curves.png")
    axes = figures[0].axes[1]
    return axes.get_title(), [list(line.get_ydata()) for line in axes.get_lines()]


def test_curves_draw_miou_for_segmentation_runs(monkeypatch, tmp_path: Path) -> None:
    header = ",".join(EPOCH_COLUMNS) + ",val_miou"
    rows = [f"{e},0.01,1.0,0.9,1.0,0.8,0.9,2.0,10.0,{e / 4}" for e in (1, 2)]
    seg = _epochs_run(tmp_path / "seg", header, rows)
    title, lines = _drawn_metric([seg], monkeypatch, tmp_path)
    assert title == "Validation mean IoU"
    assert lines == [[25.0, 50.0]]


def test_curves_draw_acc1_when_a_run_has_no_miou(monkeypatch, tmp_path: Path) -> None:
    seg_rows = [f"{e},0.01,1.0,0.9,1.0,0.8,0.9,2.0,10.0,0.5" for e in (1, 2)]
    seg = _epochs_run(tmp_path / "seg", ",".join(EPOCH_COLUMNS) + ",val_miou", seg_rows)
    cls_rows = [f"{e},0.01,1.0,0.9,1.0,{e / 10},0.9,2.0,10.0" for e in (1, 2)]
    cls = _epochs_run(tmp_path / "cls", ",".join(EPOCH_COLUMNS), cls_rows)
    title, lines = _drawn_metric([seg, cls], monkeypatch, tmp_path)
    assert title == "Validation accuracy"
    assert lines == [[80.0, 80.0], [10.0, 20.0]]


@pytest.mark.parametrize("grouped", [True, False], ids=["groups", "no-group"])
def test_without_out_compare_prints_and_writes_nothing(
    runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grouped: bool
) -> None:
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    args = ["compare", *(str(run) for run in runs), *([] if grouped else ["--no-group"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "report: not written (--out DIR writes compare.csv, report.md and plots)" in (
        result.output
    )
    assert "swint compare: " in result.output  # the table
    assert list(here.iterdir()) == []


def test_a_list_that_differs_in_length_is_one_row_of_the_config_diff(tmp_path: Path) -> None:
    """quickstart (two replace rules) against its Conv2D twin (``replace: []``): one row
    for the rules, not one per field of every rule; lists of equal length keep their rows."""
    runs = []
    for name, overrides in (
        ("quickstart", []),
        ("quickstart-conv", []),
        ("wider", ["model.replace[0].num_heads=4"]),
    ):
        recipe = load_recipe(QUICKSTART.with_stem(name.replace("wider", "quickstart")), overrides)
        folder = tmp_path / name
        folder.mkdir()
        (folder / "recipe.yaml").write_text(dump_recipe(recipe))
        runs.append(read_run(folder))
    diff = dict(config_diff(runs[:2]))
    assert diff["model.replace"] == ["2 entries", "none"]
    assert not [key for key in diff if key.startswith("model.replace[")]
    same_length = dict(config_diff([runs[0], runs[2]]))
    assert same_length == {"model.replace[0].num_heads": [2, 4]}
