"""What tests share: builders of NB documents, packets and flows, servers, sandboxes and fixtures.

Test modules import from here (and get fixtures from conftest), never from one another
(`tests/unit/test_test_imports.py`)."""
