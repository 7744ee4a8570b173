"""``swint compare`` groups seeds: figures, intervals, tests and verdicts against scipy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from tiny_runs import QUICKSTART, tiny
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.files import ProcessLock
from swint_cli.recipe import load_recipe
from swint_cli.runs import BATCH_COLUMNS
from swint_cli.train import TrainOptions, train

runner = CliRunner()

CSV_COLUMNS = [
    "group",
    "n",
    "metric",
    "metric_mean",
    "metric_std",
    "metric_ci_low",
    "metric_ci_high",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "test",
    "verdict",
    "min_detectable_diff",
]


def fake_run(
    root: Path,
    name: str,
    seed: int,
    learning_rate: float,
    acc1: list[float],
    status: str = "finished",
) -> Path:
    """A run directory (finished, unless ``status`` says otherwise) whose resolved recipe is
    the quickstart's at this seed and learning rate, with ``acc1`` as its val_acc1 per epoch
    (NaN allowed)."""
    run = root / f"{name}-seed{seed}"
    run.mkdir(parents=True)
    overrides = [
        f"output.name={name}-seed{seed}",
        f"training.seed={seed}",
        f"training.optimizer.learning_rate={learning_rate}",
        f"training.epochs={len(acc1)}",
    ]
    recipe = load_recipe(QUICKSTART, overrides).model_dump(mode="json")
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    epochs = pd.DataFrame(
        {
            "epoch": range(1, len(acc1) + 1),
            "train_loss": np.linspace(2.0, 1.0, len(acc1)),
            "val_loss": np.linspace(2.1, 1.2, len(acc1)),
            "val_acc1": acc1,
            "val_acc5": [min(1.0, a + 0.3) if a == a else a for a in acc1],
        }
    )
    epochs.to_csv(run / "epochs.csv", index=False)
    summary = {"status": status, "epochs_done": len(acc1), "epochs": len(acc1)}
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def curve(rng: np.random.Generator, level: float) -> list[float]:
    return list(np.clip(level + np.linspace(-0.1, 0, 6) + rng.normal(0, 0.01, 6), 0, 1))


@pytest.fixture(scope="module")
def groups(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four groups of runs: ``base`` (seeds 0-3, one with a NaN last epoch), ``paired``
    (seeds 0-3, higher), ``welch`` (seeds 4-6 only) and ``single`` (seed 0 alone)."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(7)
    for seed in range(4):
        acc1 = curve(rng, 0.40 + 0.01 * seed)
        if seed == 2:
            acc1[-1] = math.nan  # a NaN epoch: the figure is the last 3 finite values
        fake_run(root, "base", seed, 0.01, acc1)
        fake_run(root, "paired", seed, 0.02, curve(rng, 0.43 + 0.01 * seed))
    for seed in (4, 5, 6):
        fake_run(root, "welch", seed, 0.03, curve(rng, 0.41 + 0.02 * (seed - 4)))
    fake_run(root, "single", 0, 0.04, curve(rng, 0.30))
    return root


def figures(root: Path, name: str) -> dict[int, float]:
    """Each seed's figure, read here from the runs' own epochs.csv: the mean of the last
    three finite val_acc1 values."""
    found = {}
    for run in sorted(root.glob(f"{name}-seed*")):
        values = pd.read_csv(run / "epochs.csv")["val_acc1"].dropna()
        found[int(run.name.rsplit("seed", 1)[1])] = float(values.iloc[-3:].mean())
    return found


@pytest.fixture(scope="module")
def table(groups: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("report") / "report"
    runs = sorted(p for p in groups.iterdir())
    result = runner.invoke(app, ["compare", *map(str, runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out / "compare.csv").set_index("group", drop=False)


def test_compare_csv_has_one_row_per_group_with_the_named_columns(table: pd.DataFrame) -> None:
    assert [c for c in table.columns if c in CSV_COLUMNS] == CSV_COLUMNS
    assert list(table["group"]) == ["base", "paired", "single", "welch"]
    assert list(table["n"]) == [4, 4, 1, 3]
    assert set(table["metric"]) == {"val_acc1"}


def test_group_mean_std_and_t_interval_match_scipy(groups: Path, table: pd.DataFrame) -> None:
    for name in ("base", "paired", "welch"):
        values = np.array(list(figures(groups, name).values()))
        sem = values.std(ddof=1) / math.sqrt(len(values))
        low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=sem)
        row = table.loc[name]
        assert row["metric_mean"] == pytest.approx(values.mean(), abs=1e-12)
        assert row["metric_std"] == pytest.approx(values.std(ddof=1), abs=1e-12)
        assert (row["metric_ci_low"], row["metric_ci_high"]) == pytest.approx((low, high))


def test_shared_seeds_are_paired(groups: Path, table: pd.DataFrame) -> None:
    base, paired = figures(groups, "base"), figures(groups, "paired")
    seeds = sorted(base)
    a, b = [base[s] for s in seeds], [paired[s] for s in seeds]
    expected = stats.ttest_rel(b, a)
    row = table.loc["paired"]
    assert row["test"] == "paired t-test"
    assert row["diff_mean"] == pytest.approx(np.mean(np.subtract(b, a)), abs=1e-12)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    interval = expected.confidence_interval(0.95)
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((interval.low, interval.high))
    assert row["verdict"] == ("better" if expected.pvalue < 0.05 else "no difference detected")


def test_groups_sharing_no_seed_get_welchs_test(groups: Path, table: pd.DataFrame) -> None:
    a = list(figures(groups, "base").values())
    b = list(figures(groups, "welch").values())
    expected = stats.ttest_ind(b, a, equal_var=False)
    row = table.loc["welch"]
    assert row["test"] == "Welch's t-test"
    assert row["diff_mean"] == pytest.approx(np.mean(b) - np.mean(a), abs=1e-12)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    interval = expected.confidence_interval(0.95)
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((interval.low, interval.high))


def test_no_difference_reports_the_difference_80_percent_power_would_detect(
    groups: Path, table: pd.DataFrame
) -> None:
    """For ``no difference detected``, a true difference of ``min_detectable_diff`` has power
    0.8 under that test's noncentral t distribution (Welch's standard error and degrees of
    freedom, from the figures here); a decided comparison leaves the column empty."""
    a = np.array(list(figures(groups, "base").values()))
    b = np.array(list(figures(groups, "welch").values()))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    row = table.loc["welch"]
    assert row["verdict"] == "no difference detected"
    critical, shift = stats.t.ppf(0.975, df), row["min_detectable_diff"] / se
    power = stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)
    assert power == pytest.approx(0.8, abs=1e-6)
    assert table.loc["paired", "verdict"] == "better"
    assert pd.isna(table.loc["paired", "min_detectable_diff"])


def test_a_group_of_one_shows_its_figure_without_interval_or_test(
    groups: Path, table: pd.DataFrame
) -> None:
    row = table.loc["single"]
    assert row["metric_mean"] == pytest.approx(figures(groups, "single")[0], abs=1e-12)
    assert pd.isna(row["metric_std"]) and pd.isna(row["metric_ci_low"])
    assert row["test"] == "one run: no test" and row["verdict"] == "one run: no test"
    assert pd.isna(row["p_value"])
    base = np.mean(list(figures(groups, "base").values()))
    assert row["diff_mean"] == pytest.approx(row["metric_mean"] - base, abs=1e-12)


def test_the_baseline_row_leaves_the_test_columns_empty(table: pd.DataFrame) -> None:
    base = table.loc["base"]
    for column in ("diff_mean", "diff_ci_low", "p_value", "test", "verdict"):
        assert pd.isna(base[column]), column


def test_baseline_option_picks_the_reference_group(groups: Path, tmp_path: Path) -> None:
    runs = sorted(map(str, groups.iterdir()))
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", *runs, "--out", str(out), "--baseline", "welch"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "compare.csv").set_index("group")
    assert pd.isna(table.loc["welch", "test"])
    assert table.loc["base", "test"] == "Welch's t-test"
    assert "welch" in result.output and "baseline" in result.output


def test_an_unknown_baseline_is_one_line_naming_the_groups(groups: Path, tmp_path: Path) -> None:
    runs = sorted(map(str, groups.iterdir()))
    result = runner.invoke(app, ["compare", *runs, "--out", str(tmp_path / "r"), "--baseline", "x"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --baseline x: no group matches it (groups: base; paired; single; welch)"
    ]
    assert not (tmp_path / "r").exists()


def test_report_states_each_verdict_in_words(groups: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    runs = sorted(map(str, groups.iterdir()))
    assert runner.invoke(app, ["compare", *runs, "--out", str(out)]).exit_code == 0
    report = (out / "report.md").read_text()
    assert "**paired** against **base**:" in report
    assert "**single** against **base**:" in report and "one run: no test" in report
    assert (out / "curves.png").is_file() and (out / "step_time.png").is_file()


def test_no_group_gives_one_column_per_run(groups: Path, tmp_path: Path) -> None:
    runs = sorted(map(str, groups.iterdir()))
    out = tmp_path / "report"
    assert runner.invoke(app, ["compare", *runs, "--out", str(out), "--no-group"]).exit_code == 0
    assert len(pd.read_csv(out / "compare.csv")) == len(runs)


# -- A/A: two groups that differ only in a key that cannot change the result --------------


def aa_runs(root: Path, workers: int, seeds: range) -> dict[int, Path]:
    """Tiny one-epoch quickstart runs with ``workers`` loader workers, by seed."""
    runs = {}
    for seed in seeds:
        overrides = tiny(root, f"data.num_workers={workers}", f"training.seed={seed}")
        overrides += ["training.epochs=1", "data.train_size=32", "data.val_size=16"]
        result = train(load_recipe(QUICKSTART, overrides), TrainOptions(quiet=True))
        assert result.status == "finished", result.message
        runs[seed] = result.run_dir
    return runs


@pytest.fixture(scope="module")
def aa(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[int, Path], dict[int, Path]]:
    """One loader worker with seeds 0-4; two loader workers with seeds 0-9."""
    root = tmp_path_factory.mktemp("aa")
    return aa_runs(root / "one", 1, range(5)), aa_runs(root / "two", 2, range(10))


def aa_compare(tmp_path: Path, runs: list[Path]) -> pd.DataFrame:
    result = runner.invoke(app, ["compare", *map(str, runs), "--out", str(tmp_path / "aa")])
    assert result.exit_code == 0, result.output
    return pd.read_csv(tmp_path / "aa" / "compare.csv")


def test_aa_with_shared_seeds_has_zero_differences_and_detects_none(aa, tmp_path: Path) -> None:
    """num_workers changes nothing a run computes: every paired difference is 0, and a zero
    spread of differences gives a verdict, not an error."""
    one, two = aa
    table = aa_compare(tmp_path, [*one.values(), *(two[seed] for seed in range(5))])
    assert list(table["n"]) == [5, 5]
    assert list(table["group"]) == ["quickstart [num_workers=1]", "quickstart [num_workers=2]"]
    row = table.iloc[1]
    assert row["test"] == "paired t-test" and row["diff_mean"] == 0
    assert row["verdict"] == "no difference detected" and row["p_value"] == 1
    assert "The figures agree exactly, seed by seed" in (tmp_path / "aa" / "report.md").read_text()


def test_aa_with_disjoint_seeds_uses_welch(aa, tmp_path: Path) -> None:
    one, two = aa
    table = aa_compare(tmp_path, [*one.values(), *(two[seed] for seed in range(5, 10))])
    row = table.iloc[1]
    assert row["test"] == "Welch's t-test" and row["n"] == 5
    a = table.iloc[0]
    assert row["diff_mean"] == pytest.approx(row["metric_mean"] - a["metric_mean"], abs=1e-12)


def test_curves_draw_each_groups_mean_with_a_one_std_band(
    groups: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The right-hand panel: per group, the per-epoch mean of val_acc1 over its runs (in %)
    as a line and mean ± std (ddof 1, NaN epochs left out) as a band, computed here."""
    from swint_cli.compare import plots
    from swint_cli.compare.groups import group_runs
    from swint_cli.runs import read_run

    figures = []
    monkeypatch.setattr(plots, "_save", lambda figure, path: figures.append(figure))
    runs = [read_run(run) for run in sorted(groups.glob("base-seed*"))]
    plots.plot_group_curves(group_runs(runs, []), "val_acc1", tmp_path / "curves.png")
    axes = figures[0].axes[1]
    stacked = np.array(
        [pd.read_csv(run / "epochs.csv")["val_acc1"] for run in sorted(groups.glob("base-seed*"))]
    )
    mean, std = np.nanmean(stacked, axis=0) * 100, np.nanstd(stacked, axis=0, ddof=1) * 100
    (line,) = axes.get_lines()
    np.testing.assert_allclose(line.get_ydata(), mean)
    (band,) = axes.collections
    edge = band.get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([edge.min(), edge.max()], [(mean - std).min(), (mean + std).max()])
    assert axes.get_title() == "Validation accuracy"


def test_precision_groups_runs_and_shows_what_ran(tmp_path: Path) -> None:
    """A run written before ``training.precision`` existed groups with fp32 runs; bf16 runs
    form their own group; the precision column shows env.json's precision as run."""
    rng = np.random.default_rng(3)
    for seed in range(2):
        old = fake_run(tmp_path, "old", seed, 0.01, curve(rng, 0.4))
        recipe = yaml.safe_load((old / "recipe.yaml").read_text())
        del recipe["training"]["precision"]  # as written before the key existed
        (old / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        fake_run(tmp_path, "new", seed + 2, 0.01, curve(rng, 0.4))
        bf16 = fake_run(tmp_path, "bf16", seed, 0.01, curve(rng, 0.4))
        recipe = yaml.safe_load((bf16 / "recipe.yaml").read_text())
        recipe["training"]["precision"] = "bf16"
        (bf16 / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        (bf16 / "env.json").write_text(json.dumps({"precision": "bf16"}))
    out = tmp_path / "report"
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    result = runner.invoke(app, ["compare", *map(str, runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "compare.csv")
    assert sorted(frame["n"]) == [2, 4]
    assert dict(zip(frame["n"], frame["precision"], strict=True)) == {4: "fp32", 2: "bf16"}
    per_run = tmp_path / "per-run"
    result = runner.invoke(app, ["compare", *map(str, runs), "--no-group", "--out", str(per_run)])
    assert result.exit_code == 0, result.output
    runs_frame = pd.read_csv(per_run / "compare.csv").set_index("run")
    assert runs_frame.loc["bf16-seed0", "precision"] == "bf16"
    assert runs_frame.loc["old-seed0", "precision"] == "fp32"


def test_groups_leave_out_runs_still_running_or_interrupted_and_say_so(tmp_path: Path) -> None:
    """A sweep compared while it runs: the runs not finished (their last epochs are not
    final) stay out of the figures and tests, named in a warning; --no-group shows them."""
    rng = np.random.default_rng(5)
    for seed in range(3):
        fake_run(tmp_path, "done", seed, 0.01, curve(rng, 0.40))
    live = fake_run(tmp_path, "done", 3, 0.01, [0.1, 0.1, 0.1], status="running")
    fake_run(tmp_path, "done", 4, 0.01, [0.1, 0.1, 0.1], status="interrupted")
    fake_run(tmp_path, "done", 5, 0.01, [0.1, 0.1, 0.1], status="running")  # nobody holds it
    fake_run(tmp_path, "failed", 0, 0.02, curve(rng, 0.40), status="failed: non-finite loss")
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    with ProcessLock.take(live / "lock"):  # as the process training it does
        result = runner.invoke(app, ["compare", *map(str, runs), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    warning = " ".join(result.output.split())
    assert (
        "not finished: done-seed3 (running, 3/3 epochs); done-seed4 (interrupted, 3/3 epochs); "
        "done-seed5 (crashed, 3/3 epochs)"
    ) in warning
    frame = pd.read_csv(tmp_path / "report" / "compare.csv").set_index("group")
    assert frame.loc["done", "n"] == 3  # a failed run is an outcome: it stays
    assert frame.loc["done", "metric_mean"] == pytest.approx(
        np.mean(list(figures(tmp_path, "done").values())[:3])
    )
    result = runner.invoke(app, ["compare", *map(str, runs[3:5]), "--out", str(tmp_path / "no")])
    assert result.exit_code != 0
    assert "no run among the paths has finished" in result.output
    per_run = tmp_path / "per-run"
    result = runner.invoke(app, ["compare", *map(str, runs), "--no-group", "--out", str(per_run)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(per_run / "compare.csv")) == len(runs)


def test_a_report_says_what_its_figures_average_and_what_its_spread_is(tmp_path: Path) -> None:
    """Two-epoch runs average two epochs, not "the last 3"; one group is "1 group"; ± is
    named as a standard deviation in points."""
    for seed in range(2):
        fake_run(tmp_path / "runs", "short", seed, 0.01, [0.30 + seed / 10, 0.40 + seed / 10])
    out = tmp_path / "report"
    runs = sorted(map(str, (tmp_path / "runs").iterdir()))
    result = runner.invoke(app, ["compare", *runs, "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert report.startswith("# swint compare: 1 group\n")
    assert "| val acc1, mean of last 2 epochs (± SD, points) | 40.0% ± 7.07 |" in report
    assert "the mean of its last 2 epochs of `val_acc1`" in report
    assert "swint compare: 1 group (baseline short)" in " ".join(result.output.split())


def test_a_comparison_without_a_test_says_which_side_has_one_run(tmp_path: Path) -> None:
    for seed in range(3):
        fake_run(tmp_path / "runs", "many", seed, 0.01, [0.4, 0.5, 0.5 + seed / 100])
    fake_run(tmp_path / "runs", "single", 0, 0.02, [0.4, 0.5, 0.6])
    out = tmp_path / "report"
    runs = sorted(map(str, (tmp_path / "runs").iterdir()))
    args = ["compare", *runs, "--out", str(out), "--baseline", "single"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "no test: **single** has one run." in report, report


def test_groups_sharing_a_name_are_headed_and_picked_by_what_tells_them_apart(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(11)
    for seed in range(3):
        for rate in (0.01, 0.02):
            fake_run(tmp_path / f"lr{rate}", "quick", seed, rate, curve(rng, 0.4 + rate))
    runs = sorted(map(str, tmp_path.glob("lr*/*")))
    out = tmp_path / "report"
    args = ["compare", *runs, "--out", str(out), "--baseline", "learning_rate=0.02"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "compare.csv").set_index("group")
    assert pd.isna(table.loc["quick [learning_rate=0.02]", "test"])  # the baseline
    assert table.loc["quick [learning_rate=0.01]", "test"] == "paired t-test"
    header = next(line for line in result.output.splitlines() if "learning_rate=0.01" in line)
    assert "learning_rate=0.02" in header  # both columns headed in full, on one line
    by_part = runner.invoke(
        app, ["compare", *runs, "--out", str(tmp_path / "b"), "--baseline", "0.02"]
    )
    assert by_part.exit_code == 0, by_part.output  # a part of one group's name only


def test_the_table_and_the_step_time_plot_show_one_statistic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group's median step time is the median of all its runs' timed steps, in the table,
    compare.csv and step_time.png alike (not the mean of the runs' medians)."""
    steps = {0: [900.0, 10.0, 20.0, 30.0], 1: [900.0, 100.0, 110.0, 120.0, 130.0, 140.0]}
    for seed, times in steps.items():
        run = fake_run(tmp_path / "runs", "timed", seed, 0.01, [0.4, 0.5, 0.6])
        rows = [
            {column: 0 for column in BATCH_COLUMNS}
            | {"epoch": 1, "step": i, "step_ms": t, "warmup": int(i == 0)}
            for i, t in enumerate(times)
        ]
        pd.DataFrame(rows, columns=list(BATCH_COLUMNS)).to_csv(run / "batches.csv", index=False)
    timed = [t for times in steps.values() for t in times[1:]]  # warm-up rows left out
    expected = float(np.median(timed))  # 110: the runs' own medians are 20 and 120 (mean 70)
    drawn: dict[str, np.ndarray] = {}
    monkeypatch.setattr(
        "swint_cli.compare.plots.plot_step_times",
        lambda sets, path, what: drawn.update(dict(sets)),
    )
    out = tmp_path / "report"
    runs = sorted(map(str, (tmp_path / "runs").iterdir()))
    result = runner.invoke(app, ["compare", *runs, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out / "compare.csv")["step_ms_median"][0] == expected
    assert f"| median step ms (all steps) | {expected:,.1f} |" in (out / "report.md").read_text()
    assert float(np.median(drawn["timed"])) == expected


def test_each_comparison_gets_a_plain_sentence_in_the_terminal_and_the_report(
    groups: Path, tmp_path: Path
) -> None:
    runs = sorted(map(str, groups.iterdir()))
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", *runs, "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "compare.csv").set_index("group")
    base = figures(groups, "base")
    paired = figures(groups, "paired")
    shared = sorted(set(base) & set(paired))
    lead = 100 * float(np.mean([paired[s] - base[s] for s in shared]))
    welch = 100 * (np.mean(list(figures(groups, "welch").values())) - np.mean(list(base.values())))
    single = 100 * (figures(groups, "single")[0] - np.mean(list(base.values())))
    unseen = table.loc["welch", "min_detectable_diff"] * 100
    expected = [
        f"paired is {'higher' if lead > 0 else 'lower'} than base by {abs(lead):.1f} points on "
        f"average over {len(shared)} seeds, more than the seeds' spread explains: a real "
        f"difference (p = {table.loc['paired', 'p_value']:.2g}).",
        f"single is {'higher' if single > 0 else 'lower'} than base by {abs(single):.1f} points,"
        " but with one run on a side nothing tells that from chance: run seeds.",
        f"welch is {'higher' if welch > 0 else 'lower'} than base by {abs(welch):.1f} points on "
        "average over 3 and 4 runs, but the seeds disagree enough that this may be chance; "
        f"with this spread a difference under {unseen:.1f} points would likely go unseen: run "
        "more seeds to tell.",
    ]
    assert table.loc["paired", "verdict"] != "no difference detected"
    assert table.loc["welch", "verdict"] == "no difference detected"
    said = " ".join(result.output.split())
    report = " ".join((out / "report.md").read_text().split())
    for sentence in expected:
        assert sentence in said, sentence
        assert f"In words: {sentence}" in report, sentence


def test_table_cells_wrap_between_words_at_80_columns(groups: Path) -> None:
    result = runner.invoke(app, ["compare", *sorted(map(str, groups.iterdir()))])
    assert result.exit_code == 0, result.output
    table = result.output.split("\n\n")[0]
    cells = [cell.strip() for line in table.splitlines() for cell in line.split("│")[1:-1]]
    words = {word for cell in cells for word in cell.split()}
    for whole in ("difference", "detected", "baseline", "Welch's", "t-test,"):
        cut = {word for word in words if word != whole and whole.startswith(word) and len(word) > 2}
        assert whole not in words or not cut, (whole, cut)
    assert max(len(line) for line in table.splitlines()) <= 80


def test_runs_sharing_a_seed_count_once_as_their_mean_and_are_named(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    fake_run(root, "twice", 0, 0.01, [0.3, 0.3, 0.3])
    fake_run(root / "again", "twice", 0, 0.01, [0.5, 0.5, 0.5])  # the same seed, run again
    fake_run(root, "twice", 1, 0.01, [0.6, 0.6, 0.6])
    runs = [str(p) for p in sorted(root.rglob("twice-seed*"))]
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", *runs, "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "group twice: twice-seed0, twice-seed0 share seed 0; their mean counts once" in said
    table = pd.read_csv(out / "compare.csv")
    assert table["n"][0] == 2 and table["seeds"][0] == "0 1"
    assert table["metric_mean"][0] == pytest.approx(((0.3 + 0.5) / 2 + 0.6) / 2)


def test_detection_runs_are_grouped_and_tested_on_val_map(tmp_path: Path) -> None:
    """Runs whose epochs.csv has val_map (detection) are judged by it: each seed's figure is
    its last three val_map values, paired with the baseline's seeds."""
    rng = np.random.default_rng(3)
    maps: dict[str, list[list[float]]] = {}
    for name, level in (("plain", 0.20), ("hybrid", 0.24)):
        for seed in range(3):
            run = fake_run(tmp_path, name, seed, 0.01 if name == "plain" else 0.02, [0.1] * 6)
            epochs = pd.read_csv(run / "epochs.csv").drop(columns=["val_acc1", "val_acc5"])
            epochs["val_map"] = curve(rng, level)
            epochs.to_csv(run / "epochs.csv", index=False)
            maps.setdefault(name, []).append(list(epochs["val_map"]))
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "compare",
            *map(str, sorted(tmp_path.glob("*-seed*"))),
            "--baseline",
            "plain",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "compare.csv").set_index("group")
    assert set(table["metric"]) == {"val_map"}
    plain = np.array([np.mean(values[-3:]) for values in maps["plain"]])
    hybrid = np.array([np.mean(values[-3:]) for values in maps["hybrid"]])
    assert table.loc["hybrid", "metric_mean"] == pytest.approx(hybrid.mean(), abs=1e-9)
    assert table.loc["hybrid", "p_value"] == pytest.approx(stats.ttest_rel(hybrid, plain).pvalue)
