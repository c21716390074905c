# moecl tune: CLBlast's tuner run for the device, the tuning file it keeps
# and how every later run applies it; a damaged or foreign file is ignored
# with a warning naming it; --show and --reset. (That tuned parameters
# compute the same products is in test_gemm.)
. "$(dirname "$0")/lib.sh"
export MOECL_CACHE_DIR="$WORK/cache"

run tune --show
expect_rc 0 "tune --show before any tuning"
expect_in "$OUT" "Xgemm not tuned" "says the device's Xgemm is not tuned"
expect_in "$OUT" "XgemmDirect not tuned" "says the device's XgemmDirect is not tuned"
FILE=$(printf '%s\n' "$OUT" | sed -n 's/.*: Xgemm not tuned (no \(.*\)).*/\1/p')
case "$FILE" in "$WORK/cache/gemm-tuning-"*.json) pass ;; *) fail "the tuning file's path: '$FILE'" ;; esac
DFILE=$(printf '%s\n' "$OUT" | sed -n 's/.*: XgemmDirect not tuned (no \(.*\)).*/\1/p')
case "$DFILE" in "$WORK/cache/gemm-direct-tuning-"*.json) pass ;; *) fail "the direct tuning file's path: '$DFILE'" ;; esac
DEVICE=$(printf '%s\n' "$OUT" | sed -n 's/^\(.*\): Xgemm not tuned.*/\1/p')

# a tuning file (the parameters the tuner found on this PoCL machine) is applied
cat >"$FILE" <<JSON
{"format": "moecl-gemm-tuning-1", "device": "$DEVICE", "kernel": "Xgemm",
 "parameters": {"GEMMK": 0, "KREG": 1, "KWG": 32, "KWI": 2, "MDIMA": 8, "MDIMC": 8, "MWG": 64,
                "NDIMB": 8, "NDIMC": 8, "NWG": 64, "SA": 0, "SB": 0, "STRM": 0, "STRN": 0,
                "VWM": 4, "VWN": 2},
 "tuner_ms": 7.44, "tuned_at_mnk": [512, 512, 512]}
JSON
run kernels
expect_rc 0 "a run with a tuning file"
expect_in "$ERR" "GEMM tuned ($FILE)" "says the GEMM is tuned"
# and so is one for the direct kernel, beside it
cat >"$DFILE" <<JSON
{"format": "moecl-gemm-tuning-1", "device": "$DEVICE", "kernel": "XgemmDirect",
 "parameters": {"KWID": 2, "MDIMAD": 8, "MDIMCD": 8, "NDIMBD": 8, "NDIMCD": 8, "PADA": 1,
                "PADB": 1, "VWMD": 4, "VWND": 2, "WGD": 32},
 "tuner_ms": 1.19, "tuned_at_mnk": [256, 256, 256]}
JSON
run kernels
expect_in "$ERR" "GEMM tuned ($FILE); GEMM tuned ($DFILE)" "both tuning files applied"
run tune --show
expect_in "$OUT" "XgemmDirect KWID=2 MDIMAD=8" "--show prints the direct kernel's parameters"
rm "$DFILE"
run --no-tuning kernels
expect_not_in "$ERR" "GEMM tuned" "--no-tuning leaves CLBlast's defaults"
run tune --show
expect_in "$OUT" "Xgemm GEMMK=0 KREG=1 KWG=32" "--show prints the parameters"

# damaged and foreign files: a warning naming the file, defaults, success
printf '{"format": "moecl-gemm-tuning-1", "device": ' >"$FILE"
run kernels
expect_rc 0 "a damaged tuning file does not stop a run"
expect_in "$ERR" "warning" "warns"
expect_in "$ERR" "$FILE" "names the file"
sed "s/\"device\": \"[^\"]*\"/\"device\": \"some other GPU\"/" >"$FILE" <<JSON
{"format": "moecl-gemm-tuning-1", "device": "x", "kernel": "Xgemm", "parameters": {"MWG": 64}}
JSON
run kernels
expect_in "$ERR" "tuned for device 'some other GPU'" "a file for another device is ignored"
printf '{"format": "moecl-gemm-tuning-1", "device": "%s", "kernel": "Xgemm", "parameters": {"MWG": -3}}' "$DEVICE" >"$FILE"
run kernels
expect_in "$ERR" "parameter 'MWG'" "a bad parameter value is named"
run tune --reset
expect_rc 0 "tune --reset"
[ ! -e "$FILE" ] && pass || fail "--reset removes the file"
run tune --size 100
expect_rc 2 "a size the tuner cannot use"

# the tuner itself (its fixed set of configurations, at the smallest size)
if command -v clblast_tuner_xgemm >/dev/null; then
    run tune --size 128
    expect_rc 0 "tune --size 128"
    expect_in "$OUT" "tuner's best at 128x128x128" "reports the tuner's best"
    expect_in "$OUT" "(a VGG convolution's shape): default" "measures default against tuned"
    expect_in "$OUT" "(a convolution's weight-gradient chunk): default" "and so for the direct kernel"
    for f in "$FILE" "$DFILE"; do
        case "$OUT" in *"kept in $f"*) [ -s "$f" ] && pass || fail "kept but no $f" ;;
                       *) [ ! -e "$f" ] && pass || fail "not kept but a file $f" ;; esac
    done
    run tune --size 128 --kernel XgemmDirect
    expect_rc 0 "tune --kernel XgemmDirect"
    expect_not_in "$OUT" "(a VGG convolution's shape)" "--kernel runs that kernel's tuner only"
    run tune --kernel Xgemv
    expect_rc 2 "an unknown --kernel"
else
    echo "clblast_tuner_xgemm missing (package clblast-utils): the tuner run is not tested" >&2
    fail "clblast_tuner_xgemm is not installed (scripts/setup.sh installs it)"
fi
PATH=/nonexistent "$MOECL" tune --size 128 >"$WORK/out" 2>"$WORK/err"; RC=$?; ERR=$(cat "$WORK/err")
expect_rc 1 "tune without the tuner on PATH"
expect_in "$ERR" "clblast-utils" "says which package has it"
finish
