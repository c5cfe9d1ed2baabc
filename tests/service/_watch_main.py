"""``contimg`` with the service tests' conversion-only workflows registered (subprocess entry).

Run as ``python tests/service/_watch_main.py watch --workdir ... --until-idle``: the real
command line, with ``standard`` and ``calibrator`` replaced by the workflows of
``tests/service/_workflows.py`` so a test runs in seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.service._workflows import TEST_WORKFLOWS

from contimg.cli.main import main
from contimg.workflows import WORKFLOWS

if __name__ == "__main__":
    WORKFLOWS.update(TEST_WORKFLOWS)
    sys.argv = ["contimg", *sys.argv[1:]]
    main()
