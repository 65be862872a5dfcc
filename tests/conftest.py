import matplotlib
import pytest
import torch

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _isolate_pyro():
    """Each test starts with an empty param store and a fixed seed."""
    import pyro

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    torch.set_num_threads(1)  # tiny models: a second thread only adds contention
    yield
    pyro.clear_param_store()
