#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (run as root): the Debian packages the
# system and its tests need, then .venv/ at the repository root with the project
# installed editable. Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv            # venv for .venv/ when the system Python is used
  pcscd libpcsclite-dev   # PC/SC daemon and headers (pyscard builds against them)
  vsmartcard-vpcd         # virtual smart-card reader driver for pcscd (card simulator)
  swig                    # pyscard's build
  tesseract-ocr tesseract-ocr-eng   # plate recognition
  fonts-dejavu-core fonts-liberation fonts-freefont-ttf  # plate renderer fonts
  postgresql              # throwaway clusters in tests (scale path)
  socat                   # linked pseudo-terminals for technicians
  systemd                 # systemd-analyze verify for the units
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer is needed (found $("$PYTHON" --version))" >&2
  exit 1
fi

stamp=".venv/.rocars-installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.rocars-installed-*
  touch "$stamp"
fi
