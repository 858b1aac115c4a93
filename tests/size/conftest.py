"""The browser and artifact fixtures come from the root conftest (tests/fixtures/chromium.py)."""
