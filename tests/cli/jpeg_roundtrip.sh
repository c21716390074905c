# scripts/jpeg_roundtrip.py: a CIFAR-10 file through a baseline-JPEG round
# trip keeps every record's label and size; quality 100 changes the pixels
# by about one level (rounding through YCbCr and the DCT), quality 75 by the
# 5-7 levels the test batch's rebuilt records show; a file that is not whole
# records is refused, naming it. Skipped (77) without numpy.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
SCRIPT="$TESTS_DIR/../scripts/jpeg_roundtrip.py"
if ! "$PY" -c "import numpy" 2>/dev/null; then
    echo "jpeg_roundtrip: no numpy for $PY: skipped"
    exit 77
fi
# 40 records of random colour blocks, 4x4 pixels each (whole 2x2 chroma
# cells: 4:2:0 alone loses nothing), labels 0..9 (no data set needed)
"$PY" - "$WORK/in.bin" <<'PYEOF'
import sys
import numpy as np
rng = np.random.default_rng(3)
base = rng.integers(0, 256, size=(40, 3, 8, 8)).astype(np.float64)
img = np.kron(base, np.ones((1, 1, 4, 4))).astype(np.uint8)  # 32x32
labels = (np.arange(40) % 10).astype(np.uint8)
np.concatenate([labels[:, None], img.reshape(40, -1)], axis=1).tofile(sys.argv[1])
PYEOF
error_of() { printf '%s\n' "$1" | sed -n 's/.*mean absolute error \([0-9.]*\)\/255.*/\1/p'; }
OUT=$("$PY" "$SCRIPT" "$WORK/in.bin" "$WORK/q100.bin" --quality 100 2>&1)
RC=$?
expect_rc 0 "quality 100"
e100=$(error_of "$OUT")
OUT=$("$PY" "$SCRIPT" "$WORK/in.bin" "$WORK/q75.bin" --quality 75 2>&1)
RC=$?
expect_rc 0 "quality 75"
e75=$(error_of "$OUT")
awk -v a="$e100" 'BEGIN { exit !(a > 0 && a < 1.5) }' && pass || fail "quality 100: error $e100/255, expected under 1.5"
awk -v a="$e75" -v b="$e100" 'BEGIN { exit !(a > 3 && a < 12 && a > 3 * b) }' && pass ||
    fail "quality 75: error $e75/255, expected 3-12 and far above quality 100's $e100"
[ "$(stat -c %s "$WORK/q75.bin")" -eq "$(stat -c %s "$WORK/in.bin")" ] && pass || fail "the output has the input's size"
cmp <(od -An -v -tu1 -w3073 "$WORK/in.bin" | awk '{ print $1 }') \
    <(od -An -v -tu1 -w3073 "$WORK/q75.bin" | awk '{ print $1 }') >/dev/null && pass || fail "labels kept"
head -c 5000 "$WORK/in.bin" >"$WORK/cut.bin"
OUT=$("$PY" "$SCRIPT" "$WORK/cut.bin" "$WORK/cut-out.bin" 2>&1)
RC=$?
[ "$RC" -ne 0 ] && pass || fail "a cut file is refused"
expect_in "$OUT" "cut.bin" "the error names the file"
expect_in "$OUT" "not a whole number of CIFAR-10 records" "and says why"
finish
