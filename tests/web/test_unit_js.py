"""The app's own unit tests (Vitest: the outbox, the IndexedDB store and its migrations, the
message catalogue), run here so that `make test` and `make test-fast` run them too."""

from __future__ import annotations

import subprocess

from tests.web.conftest import WEB, ensure_node_modules, npm


def test_vitest_passes() -> None:
    ensure_node_modules()
    result = subprocess.run(
        [npm(), "test", "--silent"], cwd=WEB, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
