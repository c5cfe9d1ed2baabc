"""Property-based tests of the read endpoints from the OpenAPI schema (schemathesis).

Every GET operation is called with generated parameters over the database the
real runs filled; the checks are schemathesis' defaults (no 5xx, responses
conform to the declared schema, declared status codes and content types).
Examples per operation are bounded so the whole file stays within seconds.

(The schemathesis pytest plugin's lazy ``from_fixture`` does not work with
pytest 9 here, so each operation's strategy is driven by hypothesis directly.)
"""

from __future__ import annotations

import warnings

import schemathesis
from hypothesis import HealthCheck, given, settings
from tests.api.conftest import Filled

from contimg.api import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    import starlette.testclient  # noqa: F401  (schemathesis' ASGI transport imports it)

EXAMPLES = 15


def test_read_endpoints_never_fail(filled: Filled) -> None:
    app = create_app(filled.settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(method="GET")
    failures: dict[str, str] = {}
    labels = []
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            case.call_and_validate()

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report all
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert "GET /api/v1/runs" in labels
    assert "GET /api/v1/runs/{run_id}/logs" in labels
    assert len(labels) >= 18
    assert calls["GET /api/v1/runs"] >= EXAMPLES // 2  # the cases really ran
    print(calls)
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
