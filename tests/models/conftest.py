import pytest

from songspace.testing import planted_dataset


@pytest.fixture(scope="class")
def dataset():
    return planted_dataset()
