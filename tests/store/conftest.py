from server.harness import seaweed, store_url  # noqa: F401 - pytest fixtures
