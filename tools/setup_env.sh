#!/usr/bin/env bash
# Set up (or check) the mmdeepmad environment.  README "command one".
#
#   bash tools/setup_env.sh                       # creates ./.venv
#   MMCV_WHEEL_DIR=../shared/wheels bash tools/setup_env.sh
#   bash tools/setup_env.sh --python /path/to/python   # use an existing env
#
# Installs, pinned: torch 2.14.1 + torchvision 0.29.1, mmcv 2.1.0 WITH compiled
# ops (prebuilt wheel if one matching torch is offered, else built from the
# PyPI sdist with -std=c++20), mmengine 0.10.7, mmdet 3.3.0, mmsegmentation
# 1.2.2 (+ ftfy, regex), mmaction2 1.2.0, mmpretrain 1.2.0, cvxpy 1.9.x,
# numpy 2.x, matplotlib, the test tools, and mmdeepmad itself (editable).
# Then checks that mmcv.ops and every downstream library's models import
# (after `import mmdeepmad`), and finally runs tools/design.py if it exists.
# Anything already installed at the pinned version is skipped, so a re-run on
# a ready environment takes seconds.  Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ----------------------------------------------------------------- pins ----
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
SETUPTOOLS_SPEC='setuptools>=77,<82'  # 77-81: mmcv 2.1.0's setup.py needs pkg_resources
# Everything else; a line is only installed when not already satisfied.
REQUIREMENTS=(
  'mmdet==3.3.0'
  'mmsegmentation==1.2.2'
  'ftfy'
  'regex'
  'mmaction2==1.2.0'
  'mmpretrain==1.2.0'
  'cvxpy>=1.9,<1.10'
  'numpy>=2,<3'
  'matplotlib'
  'pytest'
  'hypothesis'
  'onnx'
  'onnxruntime'
  'tensorboard'
  'scikit-learn'
  'pytest-xdist'
  'openmim'
)
VERIFY_MODULES=(mmcv.ops mmdet.models mmseg.models mmaction.models mmpretrain.models)

# -------------------------------------------------------------- options ----
usage() {
  cat <<EOF
Usage: bash tools/setup_env.sh [options]

Options (environment variable in brackets):
  --python PATH          use this existing Python environment instead of
                         creating .venv/ (MMDEEPMAD_PYTHON). Its torch is kept
                         if it is >= 2.6 (e.g. a CUDA build); otherwise torch
                         ${TORCH_VERSION} is installed.
  --venv DIR             where to create the venv (MMDEEPMAD_VENV, default .venv)
  --mmcv-wheel-dir DIR   directory with a prebuilt mmcv ${MMCV_VERSION} wheel to use
                         when it matches the installed torch (MMCV_WHEEL_DIR)
  --build-mmcv           build mmcv from source even if a wheel is offered
                         (MMDEEPMAD_BUILD_MMCV=1); ~20 min on 2 cores
  --mmcv-patch-only      download and patch the mmcv sdist (C++20), print the
                         patch and stop without compiling (debugging aid)
  --no-design            do not run tools/design.py at the end
                         (MMDEEPMAD_SKIP_DESIGN=1)
  -h, --help             show this help
EOF
}

PY_OVERRIDE="${MMDEEPMAD_PYTHON:-}"
VENV_DIR="${MMDEEPMAD_VENV:-$ROOT/.venv}"
WHEEL_DIR="${MMCV_WHEEL_DIR:-}"
FORCE_BUILD="${MMDEEPMAD_BUILD_MMCV:-0}"
SKIP_DESIGN="${MMDEEPMAD_SKIP_DESIGN:-0}"
PATCH_ONLY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --python) PY_OVERRIDE="${2:?--python needs a path}"; shift 2 ;;
    --python=*) PY_OVERRIDE="${1#*=}"; shift ;;
    --venv) VENV_DIR="${2:?--venv needs a directory}"; shift 2 ;;
    --venv=*) VENV_DIR="${1#*=}"; shift ;;
    --mmcv-wheel-dir) WHEEL_DIR="${2:?--mmcv-wheel-dir needs a directory}"; shift 2 ;;
    --mmcv-wheel-dir=*) WHEEL_DIR="${1#*=}"; shift ;;
    --build-mmcv) FORCE_BUILD=1; shift ;;
    --mmcv-patch-only) PATCH_ONLY=1; FORCE_BUILD=1; shift ;;
    --no-design) SKIP_DESIGN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup_env: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONNOUSERSITE=1

T0=$SECONDS
PHASE_T0=$SECONDS
PHASE_NAME=""
log() { printf '[setup_env %4ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }
phase() {
  if [[ -n "$PHASE_NAME" ]]; then
    log "done: $PHASE_NAME ($((SECONDS - PHASE_T0))s)"
  fi
  PHASE_NAME="$1"; PHASE_T0=$SECONDS
  log "== $1"
}
TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/mmdeepmad-setup.XXXXXX")"
cleanup_tmp() { rm -rf "$TMP_DIR"; }
trap 'rc=$?; cleanup_tmp; if [[ $rc -ne 0 ]]; then printf "[setup_env] FAILED (exit %d) during: %s\n" "$rc" "${PHASE_NAME:-start}" >&2; fi' EXIT

# ---------------------------------------------------------------- python ---
phase "python environment"
if [[ -n "$PY_OVERRIDE" ]]; then
  PY="$PY_OVERRIDE"
  [[ -x "$PY" ]] || PY="$(command -v "$PY" || true)"
  [[ -n "$PY" && -x "$PY" ]] || die "--python/MMDEEPMAD_PYTHON '$PY_OVERRIDE' is not an executable"
  USE_VENV=0
  log "using existing environment: $PY (no venv created)"
else
  USE_VENV=1
  PY="$VENV_DIR/bin/python"
  if [[ ! -x "$PY" ]]; then
    BASE_PY=""
    for cand in python3.11 python3 python; do
      if command -v "$cand" >/dev/null 2>&1 && \
         "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
        BASE_PY="$(command -v "$cand")"; break
      fi
    done
    [[ -n "$BASE_PY" ]] || die "Python 3.11 not found (needed for the pinned torch ${TORCH_VERSION} wheels); use --python to pick an environment"
    log "creating venv $VENV_DIR with $BASE_PY"
    "$BASE_PY" -m venv "$VENV_DIR"
  fi
fi
"$PY" -c 'import sys' 2>/dev/null || die "$PY does not run; delete $VENV_DIR and re-run"
PY_TAG="$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
log "python: $("$PY" -c 'import sys; print(sys.version.split()[0], sys.executable)') ($PY_TAG)"
if [[ "$USE_VENV" == 1 && "$PY_TAG" != cp311 ]]; then
  die "$VENV_DIR uses $PY_TAG, expected Python 3.11; delete it and re-run"
fi

pip_install() { "$PY" -m pip install --progress-bar off "$@"; }

# Prints the requirements (arguments) that are NOT satisfied in the env.
unsatisfied() {
  "$PY" - "$@" <<'PYEOF'
import sys
from importlib import metadata
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
for line in sys.argv[1:]:
    req = Requirement(line)
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        print(line)
        continue
    base = version.split('+', 1)[0]
    if req.specifier and not req.specifier.contains(base, prereleases=True):
        print(line)
PYEOF
}

pkg_version() {
  "$PY" -c "from importlib import metadata as m
try: print(m.version('$1'))
except m.PackageNotFoundError: print('')"
}

# ------------------------------------------------------- build tooling ----
phase "pip build tooling ($SETUPTOOLS_SPEC, wheel)"
missing="$(unsatisfied "$SETUPTOOLS_SPEC" wheel)"
if [[ -n "$missing" ]]; then
  pip_install "$SETUPTOOLS_SPEC" wheel
else
  log "already satisfied: $(pkg_version setuptools) / wheel $(pkg_version wheel)"
fi

# ----------------------------------------------------------------- torch ---
phase "torch"
TORCH_INSTALLED="$(pkg_version torch)"
if [[ "$USE_VENV" == 0 && -n "$TORCH_INSTALLED" ]] && \
   [[ -z "$(unsatisfied 'torch>=2.6' torchvision)" ]]; then
  log "keeping the environment's torch $TORCH_INSTALLED / torchvision $(pkg_version torchvision)"
elif [[ -n "$(unsatisfied "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}")" ]]; then
  log "installing torch==${TORCH_VERSION} torchvision==${TORCHVISION_VERSION} (large download/unpack, a few minutes)"
  pip_install "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"
  (cd "$TMP_DIR" && "$PY" -c 'import torch, torchvision') || die "torch/torchvision do not import"
else
  log "already installed: torch $TORCH_INSTALLED, torchvision $(pkg_version torchvision)"
fi
TORCH_INSTALLED="$(pkg_version torch)"
TORCHVISION_INSTALLED="$(pkg_version torchvision)"
TORCH_MM="$(echo "$TORCH_INSTALLED" | cut -d. -f1,2)"

# Constraints for every later pip call: nothing may move torch or mmcv.
CONSTRAINTS="$TMP_DIR/constraints.txt"
cat > "$CONSTRAINTS" <<EOF
torch==${TORCH_INSTALLED}
torchvision==${TORCHVISION_INSTALLED}
mmcv==${MMCV_VERSION}
mmengine==${MMENGINE_VERSION}
numpy>=2,<3
${SETUPTOOLS_SPEC}
EOF

# -------------------------------------------------------------- mmengine ---
phase "mmengine ${MMENGINE_VERSION}"
if [[ -n "$(unsatisfied "mmengine==${MMENGINE_VERSION}")" ]]; then
  pip_install -c "$CONSTRAINTS" "mmengine==${MMENGINE_VERSION}"
else
  log "already installed"
fi

# ------------------------------------------------------------------ mmcv ---
mmcv_ops_ok() {
  [[ "$(pkg_version mmcv)" == "$MMCV_VERSION" ]] && \
    (cd "$TMP_DIR" && "$PY" -c 'import mmcv.ops' >/dev/null 2>&1)
}

# Which torch (major.minor) a wheel was built against, from a marker next to
# it: DIR/<wheel>.torch (e.g. "2.14.1"), or the paragraph of DIR/README.md that
# names the wheel ("... against torch 2.14.1 ..."). Empty if no marker.
wheel_torch_marker() {
  local whl="$1" dir name
  dir="$(dirname "$whl")"; name="$(basename "$whl")"
  if [[ -f "$whl.torch" ]]; then
    grep -oE '[0-9]+\.[0-9]+' "$whl.torch" | head -n1; return 0
  fi
  if [[ -f "$dir/README.md" ]]; then
    awk -v n="$name" 'BEGIN{RS=""} index($0, n){print; exit}' "$dir/README.md" |
      tr '\n' ' ' | grep -oE 'torch[ =-]*[0-9]+\.[0-9]+' | head -n1 |
      grep -oE '[0-9]+\.[0-9]+' || true
  fi
}

try_mmcv_wheel() {
  local dir="$1" whl tags marker machine
  [[ -d "$dir" ]] || { log "MMCV_WHEEL_DIR $dir does not exist; ignoring it"; return 1; }
  machine="$(uname -m)"
  for whl in "$dir"/mmcv-"${MMCV_VERSION}"-*.whl; do
    [[ -e "$whl" ]] || continue
    tags="$(basename "$whl" .whl)"   # mmcv-2.1.0-cp311-cp311-linux_x86_64
    IFS=- read -r _ _ w_py w_abi w_plat <<<"$tags"
    if [[ "$w_py" != "$PY_TAG" || "$w_abi" != "$PY_TAG" ]]; then
      log "skip $(basename "$whl"): python tag $w_py/$w_abi != $PY_TAG"; continue
    fi
    if [[ "$w_plat" != *"$machine" ]]; then
      log "skip $(basename "$whl"): platform $w_plat != $machine"; continue
    fi
    marker="$(wheel_torch_marker "$whl")"
    if [[ -z "$marker" ]]; then
      marker=2.14   # wheels offered to this project are built against torch 2.14
      log "no torch marker for $(basename "$whl"); assuming torch $marker"
    fi
    if [[ "$marker" != "$TORCH_MM" ]]; then
      log "skip $(basename "$whl"): built for torch $marker, installed torch is $TORCH_INSTALLED"; continue
    fi
    log "installing $whl (python $PY_TAG, torch $marker matches $TORCH_INSTALLED)"
    if [[ -n "$(pkg_version mmcv)" ]]; then "$PY" -m pip uninstall -y mmcv; fi
    pip_install -c "$CONSTRAINTS" "$whl"
    if mmcv_ops_ok; then
      log "mmcv.ops imports: wheel accepted"
      return 0
    fi
    log "mmcv.ops does NOT import with $(basename "$whl"); uninstalling it"
    (cd "$TMP_DIR" && "$PY" -c 'import mmcv.ops' 2>&1 | tail -n 3) || true
    "$PY" -m pip uninstall -y mmcv
  done
  return 1
}

build_mmcv_from_source() {
  log "building mmcv ${MMCV_VERSION} from its PyPI sdist with compiled ops"
  log "(no build isolation, MMCV_WITH_OPS=1, C++20; ~20 min on 2 cores)"
  pip_install -c "$CONSTRAINTS" "$SETUPTOOLS_SPEC" wheel ninja packaging addict yapf pyyaml Pillow
  local src="$TMP_DIR/mmcv-src"
  mkdir -p "$src"
  # --no-build-isolation: the sdist's metadata step imports torch.
  "$PY" -m pip download --no-deps --no-binary :all: --no-build-isolation \
    -d "$src" "mmcv==${MMCV_VERSION}"
  tar -xzf "$src/mmcv-${MMCV_VERSION}.tar.gz" -C "$src"
  local dir="$src/mmcv-${MMCV_VERSION}"
  [[ -f "$dir/setup.py" ]] || die "unexpected sdist layout in $src"
  # torch >= 2.14 headers need C++20; mmcv 2.1.0 asks for c++14 / c++17.
  cp "$dir/setup.py" "$dir/setup.py.orig"
  sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g; s#/std:c\+\+1[47]#/std:c++20#g' "$dir/setup.py"
  log "patched $dir/setup.py for C++20:"
  diff -u "$dir/setup.py.orig" "$dir/setup.py" | grep -E '^[-+][^-+]' | sed 's/^/    /' || true
  if grep -nE '^[^#]*(-std=|/std:)c\+\+1[47]' "$dir/setup.py"; then
    die "setup.py still requests an old C++ standard (lines above)"
  fi
  if [[ "$PATCH_ONLY" == 1 ]]; then
    log "--mmcv-patch-only: stopping before the build"
    exit 0
  fi
  local blog="$TMP_DIR/mmcv-build.log"
  log "build log: $blog (kept as $ROOT/work_dirs/mmcv-build.log on failure)"
  (
    cd "$dir"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "$PY" -m pip install -v --no-build-isolation --no-deps --force-reinstall \
        -c "$CONSTRAINTS" . >"$blog" 2>&1
  ) &
  local pid=$! start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null || break
    local n
    n="$(grep -cE '\.o$|Building|\[[0-9]+/[0-9]+\]' "$blog" 2>/dev/null || true)"
    log "mmcv build running: $(( (SECONDS - start) / 60 ))m$(( (SECONDS - start) % 60 ))s elapsed, ${n:-0} compile steps; last: $(grep -oE '\[[0-9]+/[0-9]+\]' "$blog" | tail -n1 || true)"
  done
  if ! wait "$pid"; then
    mkdir -p "$ROOT/work_dirs"; cp "$blog" "$ROOT/work_dirs/mmcv-build.log"
    tail -n 40 "$blog" >&2
    die "mmcv build failed; full log in work_dirs/mmcv-build.log"
  fi
  log "mmcv build finished in $(( (SECONDS - start) / 60 ))m$(( (SECONDS - start) % 60 ))s"
  mmcv_ops_ok || die "mmcv built but 'import mmcv.ops' fails"
}

# Cheap "already done" test for re-runs: right version and the compiled
# extension present (importing mmcv.ops takes seconds; "verify imports"
# below imports it anyway).
mmcv_has_ext() {
  [[ "$(pkg_version mmcv)" == "$MMCV_VERSION" ]] && "$PY" -c '
import glob, importlib.util, os, sys
spec = importlib.util.find_spec("mmcv")
root = os.path.dirname(spec.origin) if spec and spec.origin else ""
sys.exit(0 if root and glob.glob(os.path.join(root, "_ext*.so")) else 1)'
}

phase "mmcv ${MMCV_VERSION} with compiled ops"
if [[ "$FORCE_BUILD" != 1 ]] && mmcv_has_ext; then
  log "already installed with compiled ops (mmcv/_ext)"
else
  if [[ -n "$(pkg_version mmcv)" && "$FORCE_BUILD" != 1 ]]; then
    log "mmcv $(pkg_version mmcv) installed but unusable (wrong version or no ops); replacing it"
  fi
  done_mmcv=0
  if [[ "$FORCE_BUILD" != 1 && -n "$WHEEL_DIR" ]]; then
    try_mmcv_wheel "$WHEEL_DIR" && done_mmcv=1 || true
  fi
  if [[ "$done_mmcv" != 1 ]]; then
    [[ -n "$WHEEL_DIR" || "$FORCE_BUILD" == 1 ]] || \
      log "no MMCV_WHEEL_DIR / --mmcv-wheel-dir given (mmcv ${MMCV_VERSION} has no wheel on PyPI)"
    build_mmcv_from_source
  fi
fi

# ------------------------------------------------------------ downstream ---
phase "OpenMMLab libraries, design and test requirements"
mapfile -t missing < <(unsatisfied "${REQUIREMENTS[@]}")
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing: ${missing[*]}"
  pip_install -c "$CONSTRAINTS" "${missing[@]}"
else
  log "all ${#REQUIREMENTS[@]} requirements already satisfied"
fi
[[ "$(pkg_version mmcv)" == "$MMCV_VERSION" ]] || die "mmcv was changed to $(pkg_version mmcv)"

# ------------------------------------------------------------- mmdeepmad ---
phase "mmdeepmad (editable)"
# find_spec locates the package without running it (importing it is slow).
installed_at="$(cd "$TMP_DIR" && "$PY" -c '
import importlib.util, os
spec = importlib.util.find_spec("mmdeepmad")
print(os.path.dirname(os.path.dirname(os.path.abspath(spec.origin))))' 2>/dev/null || true)"
if [[ "$installed_at" == "$ROOT" ]]; then
  log "already installed in editable mode from $ROOT"
else
  pip_install --no-deps -e "$ROOT"
fi

# ---------------------------------------------------------------- verify ---
phase "verify imports"
(cd "$TMP_DIR" && "$PY" - "${VERIFY_MODULES[@]}" <<'PYEOF'
import importlib
import sys
import traceback

failed = []
try:
    import mmdeepmad  # applies the compat fixes first (mmaction DRN stub, ...)
except Exception:
    traceback.print_exc()
    failed.append('mmdeepmad')
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        print(f'  ok   {name}')
    except Exception as exc:  # noqa: BLE001
        print(f'  FAIL {name}: {type(exc).__name__}: {exc}')
        failed.append(name)
from importlib import metadata
versions = []
for p in ('torch', 'torchvision', 'mmcv', 'mmengine', 'mmdet', 'mmsegmentation',
          'mmaction2', 'mmpretrain', 'numpy', 'cvxpy', 'mmdeepmad'):
    try:
        versions.append(f'{p} {metadata.version(p)}')
    except metadata.PackageNotFoundError:
        versions.append(f'{p} MISSING')
print('  versions: ' + ', '.join(versions))
if failed:
    print('MISSING / BROKEN: ' + ', '.join(failed), file=sys.stderr)
    sys.exit(1)
PYEOF
) || die "import check failed (see above): the environment is incomplete. If mmcv.ops is the problem, re-run with a matching MMCV_WHEEL_DIR or --build-mmcv"

# ---------------------------------------------------------------- design ---
if [[ "$SKIP_DESIGN" != 1 && -f "$ROOT/tools/design.py" ]]; then
  phase "design (tools/design.py, default budget)"
  "$PY" "$ROOT/tools/design.py"
fi

phase "finished"
log "environment ready: $PY"
if [[ "$USE_VENV" == 1 ]]; then
  log "next: .venv/bin/python -m pytest tests -q"
else
  log "next: $PY -m pytest tests -q"
fi
PHASE_NAME=""
