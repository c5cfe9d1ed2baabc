from __future__ import annotations

import doctest

import contimg.state


def test_package_docstring_example_runs() -> None:
    result = doctest.testmod(contimg.state, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2
    assert result.failed == 0
