"""Registry kinds: what each registry offers beyond the v2 API (listing, clocks, sizes, delete path).

The v2 API stays the data plane (manifests, configs) wherever it works; a kind's adapter adds native calls
only where v2 cannot do the job or lacks the data. `select.py` picks the adapter; `base.py` is the contract;
one folder per kind holds its native HTTP client (`client.py`) and its adapter (`adapter.py`).
"""
