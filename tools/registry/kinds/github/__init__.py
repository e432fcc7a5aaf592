"""GitHub Container Registry: its native client (client.py) and its adapter (adapter.py)."""
