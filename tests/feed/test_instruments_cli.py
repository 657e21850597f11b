"""``dhan instruments``: summary, universe table with counts per role, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from feed.instruments.cli import parse_prices
from shared.cli import main
from shared.errors import ConfigError
from tests.conftest import DATA
from tests.feed.test_universe import generated_master

REAL = str(DATA / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run the CLI from an empty directory (no .env) with no DHAN_* variables of the developer's."""
    import os

    for name in list(os.environ):
        if name.startswith("DHAN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_summary_of_real_master(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["instruments", "--url", REAL]) == 0
    out = capsys.readouterr().out
    assert "compact layout, 9777 rows, 9777 instruments, 0 bad rows" in out
    assert "IDX_I 191  NSE_EQ 9586" in out


def test_show_universe_with_prices(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = env / "master.csv"
    path.write_text(generated_master(), encoding="utf-8")
    code = main(
        ["instruments", "--url", str(path), "--show", "--date", "2026-11-11", "--price", "NIFTY=26046.95"]
    )
    assert code == 0
    out = capsys.readouterr().out
    # Defaults: NIFTY +/- 20 strikes (82 options), BANKNIFTY unpriced: none; 2 futures expiries each.
    assert "counts: index 2, future 4, option 82, equity 50, commodity 0, total 138" in out
    assert "NIFTY options: expiry 2026-11-17, ATM 26050" in out
    assert "BANKNIFTY options: expiry 2026-11-24, no price given" in out
    lines = out.splitlines()
    assert any(ln.split()[:4] == ["index", "IDX_I", "13", "NIFTY"] for ln in lines)
    assert sum(1 for ln in lines if ln.startswith("option ")) == 82


def test_errors_are_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["instruments", "--url", str(env / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dhan instruments: error: scrip master file not found") and err.count("\n") == 1
    bad = env / "bad.csv"
    bad.write_text("SYMBOL,OPEN\nX,1\n", encoding="utf-8")
    assert main(["instruments", "--url", str(bad)]) == 2
    assert "not a Dhan scrip master" in capsys.readouterr().err
    assert main(["instruments", "--url", REAL, "--show", "--date", "11/11/2026"]) == 2
    assert "--date expects YYYY-MM-DD" in capsys.readouterr().err


def test_parse_prices() -> None:
    assert parse_prices(["NIFTY=26050", "banknifty=59300.5"]) == {"NIFTY": 26050.0, "BANKNIFTY": 59300.5}
    for bad in ("NIFTY", "NIFTY=", "=1", "NIFTY=-5", "NIFTY=nan", "NIFTY=abc"):
        with pytest.raises(ConfigError):
            parse_prices([bad])
