import keras
import pytest


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with the global dtype policy and name counters reset."""
    keras.backend.clear_session()
    yield
    keras.config.set_dtype_policy("float32")
