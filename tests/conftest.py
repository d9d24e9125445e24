import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def empty_cache():
    """The cache outlives each test's database; start every test without it."""
    cache.clear()
    yield
    cache.clear()
