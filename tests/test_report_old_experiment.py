"""A run whose saved experiment.yaml no longer validates: `chaoskit report` says so."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from chaoskit.report.cli import report
from chaoskit.testing.synthetic import SyntheticSpec, write_synthetic_run


def test_an_experiment_that_no_longer_validates_gets_a_clear_message(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "run", SyntheticSpec(duration_s=3.0, seed=1))
    doc = yaml.safe_load((run_dir / "experiment.yaml").read_text())
    doc["checks"] = {"rpo": {"max_lost_writes": 0}}  # a spelling chaoskit never accepted
    (run_dir / "experiment.yaml").write_text(yaml.safe_dump(doc))
    r = CliRunner().invoke(report, [str(run_dir), "--quiet"])
    assert r.exit_code == 2, r.output
    assert "no longer validates as an experiment" in r.output
    assert "checks.rpo: unknown field 'rpo' in checks; did you mean 'lost_writes'?" in r.output
    assert "run the experiment again" in r.output


def test_a_valid_saved_experiment_still_renders(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "run", SyntheticSpec(duration_s=3.0, seed=1))
    r = CliRunner().invoke(report, [str(run_dir), "--quiet"])
    assert r.exit_code in (0, 1), r.output
    assert (run_dir / "report.html").exists()
