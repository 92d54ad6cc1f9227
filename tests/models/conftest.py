import pytest

from tests.models.mixin import planted_dataset


@pytest.fixture(scope="class")
def dataset():
    return planted_dataset()


@pytest.fixture(scope="class")
def fitted(request, dataset):
    """The test class's model fitted once on the planted dataset (ModelTestMixin)."""
    cls = request.cls
    return cls.model_class(**cls.fast_params, seed=1).fit(dataset)
