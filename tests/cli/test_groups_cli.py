from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from contimg.cli.main import app
from contimg.science.simulate import Corruptions, simulate_groups


def test_groups_and_ms_lists_after_convert(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    (done, short) = simulate_groups(
        incoming, n_groups=2, corruptions=Corruptions(missing_subbands=((1, 5),)), seed=3
    )
    work = str(tmp_path / "work")
    runner = CliRunner()
    result = runner.invoke(app, ["convert", str(incoming), "--workdir", work])
    assert result.exit_code == 0, result.output

    listed = runner.invoke(app, ["groups", "list", "--json", "--workdir", work])
    assert listed.exit_code == 0, listed.output
    groups = {g["group_id"]: g for g in json.loads(listed.stdout)}
    assert groups[done.group_id]["state"] == "converted"
    assert groups[done.group_id]["n_subbands"] == 16
    assert groups[short.group_id]["n_subbands"] == 15
    assert groups[short.group_id]["state"] != "converted"

    ms = json.loads(runner.invoke(app, ["ms", "list", "--json", "--workdir", work]).stdout)
    assert [m["group_id"] for m in ms] == [done.group_id]
    assert Path(ms[0]["path"]).is_absolute()
    assert ms[0]["n_fields"] == 4

    bad = runner.invoke(app, ["groups", "list", "--state", "cooking", "--workdir", work])
    assert bad.exit_code == 2
    assert "cooking" in bad.output
