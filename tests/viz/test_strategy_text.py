"""Legs typed by the user (viz.models.strategy_text): the contracts they name, and one-line errors."""

from __future__ import annotations

import re

import pytest

from viz.models.contracts import OptionSpec
from viz.models.strategy import Strategy
from viz.models.strategy_text import parse_legs

SPECS = [OptionSpec(f"F:{i}", k, t, 75) for i, (k, t) in enumerate(
    (k, t) for k in (25900.0, 26100.0, 26300.0) for t in ("CE", "PE"))]


def test_a_short_strangle_with_wings() -> None:
    legs = parse_legs(" s 26100 ce 2,S 26100 PE ,  B 26300 CE, b 25900 pe 1 ", SPECS)
    assert [(leg.side, leg.spec.strike, leg.spec.option_type, leg.lots) for leg in legs] == [
        ("S", 26100.0, "CE", 2), ("S", 26100.0, "PE", 1), ("B", 26300.0, "CE", 1), ("B", 25900.0, "PE", 1)]
    assert [leg.units for leg in legs] == [-150, -75, 75, 75]
    # entered at 100 + 90 (sold) and 20 + 15 (bought): a credit of (2 x 100 + 90 - 20 - 15) x 75
    prices = {"F:2": 100.0, "F:3": 90.0, "F:4": 20.0, "F:1": 15.0}
    assert Strategy(legs).net_premium(prices) == -(200.0 + 90.0 - 20.0 - 15.0) * 75


@pytest.mark.parametrize(("text", "message"), [
    ("S 26100", "write SIDE STRIKE TYPE"),
    ("X 26100 CE", "the side is B (bought) or S (sold)"),
    ("S 26125 CE", "no 26125 CE in this chain"),
    ("S 26100 CE many", "the strike and the lots are numbers"),
    ("S 26100 CE 0", "at least one lot"),
    ("S 25900 CE, S 25900 PE, B 26100 CE, B 26100 PE, B 26300 CE", "5 legs: a combination has 1 to 4"),
])
def test_bad_legs_say_what_is_wrong_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        parse_legs(text, SPECS)
    assert "\n" not in str(err.value)


def test_no_text_no_legs() -> None:
    assert parse_legs("  , ", SPECS) == ()
