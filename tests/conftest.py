import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")


@pytest.fixture(scope="session", autouse=True)
def elmo_c_cache(tmp_path_factory):
    """
    Points `ELMO_C_CACHE` (where target tables are cached) at a temporary directory
    for the whole session, so that tests never read or write `~/.cache`.
    """
    cache_dir = str(tmp_path_factory.mktemp("elmo_c_cache"))
    previous = os.environ.get("ELMO_C_CACHE")
    os.environ["ELMO_C_CACHE"] = cache_dir
    yield cache_dir
    if previous is None:
        os.environ.pop("ELMO_C_CACHE", None)
    else:
        os.environ["ELMO_C_CACHE"] = previous


@pytest.fixture(scope="session")
def fixtures_dir() -> str:
    """The repository's `fixtures/` directory (corpora, target vectors, configs)."""
    return FIXTURES
