"""The container tier's lines (which image was made from what, how long) reach the output."""

from __future__ import annotations

import pytest

from tests.support.containers import REPORTER


@pytest.fixture(scope="session", autouse=True)
def _containers_reporter(request):
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        REPORTER[:] = [reporter, capture]
    yield
    REPORTER.clear()
