"""Google Artifact Registry (and gcr.io): its native client (client.py) and its adapter (adapter.py)."""
