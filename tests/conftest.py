from __future__ import annotations

import pytest

from tests.helpers import SAMPLES, SHARED


@pytest.fixture(scope="session")
def analyzer():
    from mien import Analyzer

    with Analyzer() as a:
        yield a


@pytest.fixture(scope="session")
def shared():
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED} is absent (tests that read ../shared are skipped)")
    return SHARED


@pytest.fixture()
def samples():
    return SAMPLES
