from server.api_fixtures import api_hog, api_server, api_store  # noqa: F401 - pytest fixtures
from server.harness import seaweed, store_url  # noqa: F401 - pytest fixtures
