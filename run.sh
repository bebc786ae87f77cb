#!/usr/bin/env bash
# steerflow's two entry points on a fresh Debian 12 machine (run as root, or with sudo):
#   ./run.sh demo   installs what is needed, then runs the main job (the demo on the embedded store)
#   ./run.sh test   installs what is needed, then runs every test
# Other verbs: install (only install), lint (ruff + mypy + lint-imports).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
VENV=${STEERFLOW_VENV:-$HERE/.venv}
OSC_VENV=${STEERFLOW_OSC_VENV:-$HERE/.venv-osc}
PLUGIN_DIR=tests/plugins/steerflow_vlan_encap
APT_PACKAGES=(python3-venv openvswitch-switch redis-server etcd-server etcd-client haproxy iproute2 iputils-ping ethtool curl)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_system() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  # the system services are not used: every test and the demo start their own daemons
  for svc in redis-server etcd haproxy openvswitch-switch; do
    systemctl is-active --quiet "$svc" 2>/dev/null && systemctl stop "$svc" 2>/dev/null || true
  done
}

install_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  say "installing steerflow and its test tools into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev]"
  # a test fixture, not part of steerflow: a third party's encapsulation driver (`correlation: vlan`),
  # its own distribution, which the tests prove pluggable (docs/encap.md)
  say "installing the test encapsulation driver $PLUGIN_DIR into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$PLUGIN_DIR"
}

install_osc() {
  # the real openstack CLI lives in its own venv so its pins never fight ours
  if [ ! -x "$OSC_VENV/bin/openstack" ]; then
    say "installing the openstack CLI (python-openstackclient + python-neutronclient) into $OSC_VENV"
    python3 -m venv "$OSC_VENV"
    "$OSC_VENV/bin/pip" install -q --disable-pip-version-check python-openstackclient python-neutronclient
  fi
}

install_all() { install_system; install_python; install_osc; }

run_tests() {
  install_all
  say "lint: ruff, mypy --strict and the import contracts (lint-imports)"
  "$VENV/bin/ruff" check src tests bench 2>/dev/null || "$VENV/bin/ruff" check src tests
  "$VENV/bin/mypy"
  "$VENV/bin/mypy" "$PLUGIN_DIR/src"
  "$VENV/bin/lint-imports"
  say "tests"
  local rc=0 arg paths=0
  STEERFLOW_OSC_VENV="$OSC_VENV" "$VENV/bin/python" -m pytest "$@" || rc=$?
  for arg in "$@"; do [[ $arg == -* ]] || paths=1; done
  if [ "$paths" -eq 0 ]; then
    # API servers keep no state: the REST suites pass with every request spread over two of them
    say "the REST suites again, through HAProxy in front of two API servers on one store"
    STEERFLOW_TEST_API_SERVERS=2 "$VENV/bin/python" -m pytest "$@" tests/functional/test_rest_*.py \
      || { local again=$?; [ "$rc" -ne 0 ] || rc=$again; }
  fi
  return "$rc"
}

run_demo() {
  install_all
  # the demo builds network namespaces and OVS daemons: root
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo "$VENV/bin/steerflow" demo "$@"
}

verb=${1:-demo}
shift || true
case "$verb" in
  install) install_all ;;
  test) run_tests "$@" ;;
  demo) run_demo "$@" ;;
  lint) "$VENV/bin/ruff" check src tests && "$VENV/bin/mypy" && "$VENV/bin/mypy" "$PLUGIN_DIR/src" && "$VENV/bin/lint-imports" ;;
  *) echo "usage: $0 {demo|test|install|lint}" >&2; exit 2 ;;
esac
