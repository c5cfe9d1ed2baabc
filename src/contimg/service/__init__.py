"""The streaming service: watch ``incoming/``, assemble groups, run workflows exactly once.

Use from code (the demo, tests)::

    from contimg.service import Service

    with Service(settings, repository, progress=on_event) as service:
        summary = service.run_until_idle()       # or run_once(), run_until(pred), serve_forever()
        service.snapshot()                       # queue, active groups and stages, finished

``contimg watch`` is the same object behind a command line. The lease design and the
state tables are described in :mod:`contimg.state._service`; what each module does in
:mod:`contimg.service.core`.
"""

from contimg.service._events import (
    ActiveGroup,
    FinishedGroup,
    ProgressHook,
    ServiceEvent,
    ServiceSnapshot,
)
from contimg.service._plan import CALIBRATOR_WORKFLOW, STANDARD_WORKFLOW, GroupPlan, plan_group
from contimg.service.core import WATCHER_LEASE, PollResult, Service, ServiceSummary

__all__ = [
    "CALIBRATOR_WORKFLOW",
    "STANDARD_WORKFLOW",
    "WATCHER_LEASE",
    "ActiveGroup",
    "FinishedGroup",
    "GroupPlan",
    "PollResult",
    "ProgressHook",
    "Service",
    "ServiceEvent",
    "ServiceSnapshot",
    "ServiceSummary",
    "plan_group",
]
