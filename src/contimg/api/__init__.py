"""REST API (``/api/v1``), Prometheus ``/metrics`` and the web dashboard.

>>> from contimg.api import create_app
>>> app = create_app(settings)          # doctest: +SKIP
>>> # uvicorn.run(app, host="127.0.0.1", port=8000)  -- or `contimg serve`
"""

from contimg.api.app import API_PREFIX, create_app
from contimg.api.security import hash_key

__all__ = ["API_PREFIX", "create_app", "hash_key"]
