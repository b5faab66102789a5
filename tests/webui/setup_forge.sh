#!/usr/bin/env bash
# Prepare a real Stable Diffusion WebUI Forge for the tests in tests/forge/ (the A1111 suite's harness, on Forge).
#
# Forge is not on any package registry; its sources come as a bundle (a .tar.gz of the Forge tree, e.g. main at
# dfdcbab6, "f2.0.1v1.10.1-1.10.1", which already holds repositories/huggingface_guess and the BLIP tree) or as a
# folder. This script unpacks it and builds the venv; nothing of Forge is ever committed to this project.
#
# usage: bash tests/webui/setup_forge.sh BUNDLE FORGE_DIR
#
#   BUNDLE     the Forge bundle (.tar.gz / .tgz, with one top-level folder), or an unpacked Forge folder
#   FORGE_DIR  where Forge goes (created if missing). Re-running is cheap: a FORGE_DIR that already holds
#              launch.py is not unpacked again (FORCE=1 unpacks it again over it), pip installs only what is
#              missing; models/, extensions/, config.json and outputs are never touched.
#
# Environment:
#   PYTHON          interpreter for the venv (default: python3.11)
#   SD_FORGE_VENV   venv location (default: FORGE_DIR/venv, where tests/forge looks)
#   SKIP_VENV=1     only unpack the sources
#
# Afterwards: SD_FORGE_DIR=FORGE_DIR python -m pytest tests/forge   (see tests/forge/README.md)
set -euo pipefail

if [ $# -ne 2 ]; then
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
BUNDLE=$1
mkdir -p "$2"
FORGE=$(cd "$2" && pwd)
PYTHON=${PYTHON:-python3.11}
VENV=${SD_FORGE_VENV:-$FORGE/venv}

log() { printf '[setup_forge] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=webui_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/webui_venv.sh"

t0=$SECONDS

# 1. the Forge tree
if [ "${FORCE:-0}" != 1 ] && [ -f "$FORGE/launch.py" ]; then
    log "Forge: already in $FORGE"
elif [ -d "$BUNDLE" ]; then
    [ -f "$BUNDLE/launch.py" ] || die "$BUNDLE holds no launch.py"
    log "Forge from folder $BUNDLE -> $FORGE"
    cp -a "$BUNDLE/." "$FORGE/"
elif [ -f "$BUNDLE" ]; then
    log "Forge from bundle $BUNDLE -> $FORGE"
    tar -xzf "$BUNDLE" -C "$FORGE" --strip-components=1
    [ -f "$FORGE/launch.py" ] || die "$BUNDLE did not unpack to a Forge tree (no launch.py under one top folder)"
else
    die "no bundle or folder at $BUNDLE"
fi
[ -d "$FORGE/backend/diffusion_engine" ] || die "$FORGE is no Forge tree (no backend/diffusion_engine)"
[ -d "$FORGE/repositories/huggingface_guess" ] || die "$FORGE lacks repositories/huggingface_guess"
log "sources ready ($((SECONDS - t0)) s)"

# 2. the venv (python 3.11)
if [ "${SKIP_VENV:-0}" = 1 ]; then exit 0; fi
# joblib: the built-in soft-inpainting script imports it and the requirements lack it. openai-clip is not needed
# (imported lazily).
build_webui_venv "$VENV" "$PYTHON" "$FORGE" joblib
log "done in $((SECONDS - t0)) s: FORGE=$FORGE venv=$VENV"
