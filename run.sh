#!/usr/bin/env bash
# steerflow's two entry points on a fresh Debian 12 machine (run as root, or with sudo):
#   ./run.sh demo   installs what is needed, then runs the main job (the demo on the embedded store)
#   ./run.sh test   installs what is needed (the Neutron venv for steerflow-neutron's tests too), then runs
#                   every test
# Other verbs: install (only install), lint (ruff + mypy + lint-imports), bench [--quick] [--only NAMES]
# (the benchmark suite: JSON results and plots to bench/results/, docs/benchmarks.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
VENV=${STEERFLOW_VENV:-$HERE/.venv}
OSC_VENV=${STEERFLOW_OSC_VENV:-$HERE/.venv-osc}
NEUTRON_VENV=${STEERFLOW_NEUTRON_VENV:-$HERE/.venv-neutron}
NEUTRON_DIR=integrations/neutron
# the versions steerflow-neutron is tested with (integrations/neutron/README.md)
NEUTRON_PACKAGES=(neutron==29.0.0 networking-sfc==23.0.0)
PLUGIN_DIR=tests/plugins/steerflow_vlan_encap
# haproxy: in front of two API servers (tests/builders/balancer.py);
# systemd: only for `systemd-analyze verify` of packaging/systemd (tests/functional/test_packaging.py)
APT_PACKAGES=(python3-venv openvswitch-switch redis-server etcd-server etcd-client iproute2 iputils-ping ethtool curl systemd haproxy)
# the web view's browser tests drive Debian's chromium headless (tests/functional/test_ui_browser.py)
APT_TEST_PACKAGES=(chromium chromium-driver)

# most functional tests wait (on daemons, agents, packets), so two workers pay even on two cores; tests
# that must not share a worker's neighbour carry an xdist_group mark (docs/testing.md)
WORKERS=${STEERFLOW_TEST_WORKERS:-2}
XDIST=(-n "$WORKERS" --dist loadgroup)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

install_system() {
  apt_install "${APT_PACKAGES[@]}"
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
  "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev,bench]"
  # an editable install leaves steerflow's bytecode to the first run, which never writes it under
  # PYTHONDONTWRITEBYTECODE: every agent, API and CLI start then compiled ~100 modules from source (~0.1 s
  # of CPU per start); pip compiles a wheel's at install, this does the same (stale files are ignored)
  "$VENV/bin/python" -m compileall -q src
  # a test fixture, not part of steerflow: a third party's encapsulation driver (`correlation: vlan`),
  # its own distribution, which the tests prove pluggable (docs/encap.md)
  say "installing the test encapsulation driver $PLUGIN_DIR into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$PLUGIN_DIR"
  say "installing steerflow-neutron ($NEUTRON_DIR: the resync command) into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$NEUTRON_DIR"
}

install_neutron() {
  # a real neutron-server for the tests of steerflow-neutron, in its own venv (Neutron's pins are its own);
  # steerflow and the drivers go in editable, as an operator installs them beside neutron-server
  if ! "$NEUTRON_VENV/bin/python" -c 'import neutron, networking_sfc' 2>/dev/null; then
    say "installing ${NEUTRON_PACKAGES[*]} into $NEUTRON_VENV (a few minutes, once)"
    python3 -m venv "$NEUTRON_VENV"
    "$NEUTRON_VENV/bin/pip" install -q --disable-pip-version-check "${NEUTRON_PACKAGES[@]}"
  fi
  say "installing steerflow and steerflow-neutron into $NEUTRON_VENV"
  "$NEUTRON_VENV/bin/pip" install -q --disable-pip-version-check -e .
  "$NEUTRON_VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$NEUTRON_DIR"
}

install_osc() {
  # the real openstack CLI lives in its own venv so its pins never fight ours
  if [ ! -x "$OSC_VENV/bin/openstack" ]; then
    say "installing the openstack CLI (python-openstackclient + python-neutronclient) into $OSC_VENV"
    python3 -m venv "$OSC_VENV"
    "$OSC_VENV/bin/pip" install -q --disable-pip-version-check python-openstackclient python-neutronclient
  fi
}

install_web() {
  # the web view (/ui): built from web/ into src/steerflow/rest/ui/dist/, which the package ships
  if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
  say "building the web view (web/ -> src/steerflow/rest/ui/dist/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
}

install_all() { install_system; install_web; install_python; install_osc; install_neutron; }

lint() {
  "$VENV/bin/ruff" check src tests bench "$NEUTRON_DIR"
  "$VENV/bin/mypy"
  "$VENV/bin/mypy" "$PLUGIN_DIR/src"
  "$VENV/bin/mypy" --config-file "$NEUTRON_DIR/pyproject.toml" "$NEUTRON_DIR/src"
  "$VENV/bin/lint-imports"
  "$VENV/bin/lint-imports" --config "$NEUTRON_DIR/pyproject.toml"
}

run_tests() {
  install_all
  apt_install "${APT_TEST_PACKAGES[@]}"
  say "lint: ruff, mypy --strict and the import contracts (lint-imports)"
  lint
  say "tests ($WORKERS pytest-xdist workers; STEERFLOW_TEST_WORKERS=0 runs them in this process)"
  local rc=0 arg paths=0
  STEERFLOW_OSC_VENV="$OSC_VENV" STEERFLOW_NEUTRON_VENV="$NEUTRON_VENV" \
    "$VENV/bin/python" -m pytest "${XDIST[@]}" "$@" || rc=$?
  # a path (or node id) among the arguments means a chosen subset: no second pass then
  for arg in "$@"; do [[ $arg != -* && -e ${arg%%::*} ]] && paths=1; done
  if [ "$paths" -eq 0 ]; then
    # API servers keep no state: the REST suites pass with every request spread over two of them
    say "the REST suites again, through HAProxy in front of two API servers on one store"
    STEERFLOW_TEST_API_SERVERS=2 "$VENV/bin/python" -m pytest "${XDIST[@]}" "$@" tests/functional/test_rest_*.py \
      || { local again=$?; [ "$rc" -ne 0 ] || rc=$again; }
  fi
  return "$rc"
}

run_bench() {
  install_system; install_python  # the Python of the suite, matplotlib for its plots
  # bench/ovn_compare.py measures Debian's OVN beside steerflow (its daemons are started by the bench)
  apt_install ovn-central ovn-host
  # the lab benchmarks build network namespaces and OVS daemons: root
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo "$VENV/bin/steerflow" bench "$@"
}

run_demo() {
  install_system; install_python; install_osc  # not the Neutron venv: only its tests need it
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
  lint) lint ;;
  bench) run_bench "$@" ;;
  *) echo "usage: $0 {demo|test|install|lint|bench}" >&2; exit 2 ;;
esac
