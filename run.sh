#!/usr/bin/env bash
# Set up Regent on a fresh Debian/Ubuntu machine, then run the demo or the whole test suite.
#   ./run.sh demo    set up, then `regent demo`
#   ./run.sh demo --assistant   the demo, then a local 1.5B model answers three questions (first use: ~10 min)
#   ./run.sh test    set up, then lint, type-check and run every test (but the container and model tests)
#   ./run.sh model   set up, then the real local LLM: its runner's tests and the eval smoke subset
#   ./run.sh container  set up, then build Regent's image on a debootstrapped base and test it (slow)
#   ./run.sh setup   set up only
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(docker-registry apache2-utils docker.io busybox-static python3-venv poppler-utils)
# Only the container stage needs these: a Debian rootfs for the image's base, and `docker-compose config`.
CONTAINER_APT_PACKAGES=(debootstrap docker-compose)
# Only the model stage and `demo --assistant` need these: llama-server is built from llama.cpp's source.
MODEL_APT_PACKAGES=(cmake g++)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_system_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "run.sh: installing ${missing[*]}" >&2
    as_root apt-get update -qq
    # policy-rc.d keeps Debian's postinst from starting the system registry and dockerd: tests start their own.
    [ -e /usr/sbin/policy-rc.d ] || as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_python_packages() {
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  # pip's and setuptools' chatter goes to a log that is shown only when the install fails.
  if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e '.[test]'; } \
      > .venv/pip-install.log 2>&1; then
    cat .venv/pip-install.log >&2
    echo "run.sh: pip install failed (log above, also in .venv/pip-install.log)" >&2
    exit 1
  fi
}

setup() {
  install_system_packages "${APT_PACKAGES[@]}"
  install_python_packages
}

run_tests() {
  .venv/bin/ruff check bot tools tests bench
  .venv/bin/ruff format --check bot tools tests bench
  .venv/bin/mypy
  .venv/bin/lint-imports --no-cache
  # Evals against a real LLM are deselected here (not skipped): the model stage runs them on the local model.
  .venv/bin/pytest -q -p no:cacheprovider -m "not container and not model and not eval" "$@"
}

# The real local model (cached in ~/.cache/regent: a warm cache starts it in seconds), its runner's tests,
# then the eval smoke subset against it (bench/evals.py --smoke): fails when real-model use breaks.
run_model_tests() {
  install_system_packages "${MODEL_APT_PACKAGES[@]}"
  bench/model_setup.sh
  .venv/bin/pytest -q -p no:cacheprovider -m model tests/integration/test_local_model.py "$@"
  .venv/bin/python bench/evals.py --smoke
}

run_container_tests() {
  install_system_packages "${CONTAINER_APT_PACKAGES[@]}"
  .venv/bin/pytest -q -p no:cacheprovider -m container tests/container "$@"
}

case "${1:-}" in
  setup) setup ;;
  demo)
    setup; shift
    case " $* " in *" --assistant "*) install_system_packages "${MODEL_APT_PACKAGES[@]}" ;; esac
    exec .venv/bin/regent demo "$@" ;;
  test) setup; shift; run_tests "$@" ;;
  container) setup; shift; run_container_tests "$@" ;;
  model) setup; shift; run_model_tests "$@" ;;
  *) echo "usage: ./run.sh demo [--assistant]|test|container|model|setup" >&2; exit 64 ;;
esac
