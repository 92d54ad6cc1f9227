"""Test helpers songspace ships, as Optuna ships ``optuna.testing``.

:class:`~songspace.testing.models.ModelTestMixin` is the suite every embedding model
passes: subclass it in a ``Test...`` class of your own tests, set ``model_class`` and
``fast_params``, and pytest runs it against your registered model. It needs pytest
(the ``testing`` extra).
"""

from songspace.testing.models import (
    ModelTestMixin,
    bad_values,
    planted_dataset,
    same_genre_share,
)

__all__ = ["ModelTestMixin", "bad_values", "planted_dataset", "same_genre_share"]
