import keras
import pytest

# Needs torch and timm (it writes the committed checkpoint fixtures); the
# suite itself needs neither, so pytest must not import it.
collect_ignore = ["fixtures/make_checkpoints.py", "fixtures/make_families.py"]


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with the global dtype policy and name counters reset."""
    keras.backend.clear_session()
    yield
    keras.config.set_dtype_policy("float32")


def pytest_collection_modifyitems(config, items):
    """Backend-independent tests run once, in the TensorFlow process."""
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason="backend-independent; runs under KERAS_BACKEND=tensorflow only")
    for item in items:
        if "backend_independent" in item.keywords:
            item.add_marker(skip)
