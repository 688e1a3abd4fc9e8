#!/usr/bin/env bash
# Create the virtual environment if needed and install a requirements file into it, but only
# when that file (or one it includes with -r) or the Python version changed since the last
# install: a stamp file in the venv holds the hash of what was installed.
#
# Usage: scripts/venv.sh VENV_DIR REQUIREMENTS_FILE    (PYTHON=python3 picks the interpreter)
set -euo pipefail

venv=${1:?usage: scripts/venv.sh VENV_DIR REQUIREMENTS_FILE}
requirements=${2:?usage: scripts/venv.sh VENV_DIR REQUIREMENTS_FILE}
python=${PYTHON:-python3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pip_flags=(--disable-pip-version-check --no-input -q)

# A bare Debian has no python3, or python3 without the venv module (python3-venv).
if [ "$python" = python3 ] && ! { command -v python3 >/dev/null 2>&1 \
  && python3 -c 'import ensurepip, venv' >/dev/null 2>&1; }; then
  bash "$here/apt-install.sh" python3 python3-venv
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "venv: $python is missing or older than Python 3.11" >&2
  exit 1
fi

# The requirements file and every file it includes with `-r`, recursively.
requirement_files() {
  local file=$1 dir included
  echo "$file"
  dir=$(dirname "$file")
  sed -n -E 's/^[[:space:]]*(-r|--requirement)[[:space:]=]+([^[:space:]#]+).*/\2/p' "$file" \
    | while read -r included; do
      requirement_files "$dir/$included"
    done
}

if ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
  if [ -e "$venv" ] && [ ! -e "$venv/pyvenv.cfg" ]; then
    echo "venv: $venv exists but is not a virtual environment; not touching it" >&2
    exit 1
  fi
  echo "venv: creating $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  # The distribution's pip can be years old; a current one resolves today's wheels.
  "$venv/bin/python" -m pip install "${pip_flags[@]}" --upgrade pip
fi

stamp="$venv/.opsdash-$(basename "$requirements").sha256"
wanted=$({
  "$venv/bin/python" --version 2>&1
  requirement_files "$requirements" | while read -r file; do cat "$file"; done
} | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi

echo "venv: installing $requirements into $venv"
"$venv/bin/python" -m pip install "${pip_flags[@]}" -r "$requirements"
echo "$wanted" >"$stamp"
