"""`make test`'s two pytest runs (scripts/run_tests.py): what each selects and when the whole fails."""

from __future__ import annotations

import pytest

from scripts.run_tests import SERIAL, outcome, phases


def test_the_parallel_run_leaves_the_serial_markers_to_the_serial_run() -> None:
    parallel, serial = phases([], "2")
    assert parallel == ["-n", "2", "-m", f"not ({SERIAL})"]
    assert serial == ["-m", f"({SERIAL})"]


def test_arguments_go_to_both_runs_and_a_marker_expression_narrows_each() -> None:
    parallel, serial = phases(["tests/api", "-x", "-m", "not browser", "-k", "sync"], "3")
    assert parallel == ["-n", "3", "-m", f"not ({SERIAL}) and (not browser)", "tests/api", "-x", "-k", "sync"]
    assert serial == ["-m", f"({SERIAL}) and (not browser)", "tests/api", "-x", "-k", "sync"]
    assert phases(["-mbrowser"], "2")[1] == ["-m", f"({SERIAL}) and (browser)"]


@pytest.mark.parametrize(
    ("codes", "subset", "status"),
    [
        ((0, 0), False, 0),
        ((1, 0), False, 1),
        ((0, 1), False, 1),
        ((2, 1), True, 2),  # interrupted
        ((5, 0), False, 5),  # the whole suite: each run must find tests
        ((0, 5), False, 5),
        ((5, 5), True, 5),  # a subset: some test must run
        ((0, 5), True, 0),  # a subset may lie in one run
        ((5, 0), True, 0),
        ((5, 1), True, 1),
    ],
)
def test_either_run_failing_or_no_test_at_all_fails_the_whole(
    codes: tuple[int, int], subset: bool, status: int
) -> None:
    assert outcome(codes, subset=subset) == status
