# A user kernel source with an error: the device, the options and the full
# build log are printed, exit code 1. A good source builds.
. "$(dirname "$0")/lib.sh"
DATA="$TESTS_DIR/data"
run kernels --source "$DATA/broken.cl" --options "-DTEST_OPTION=7"
expect_rc 1 "broken source"
expect_in "$ERR" "failed to build" "says the build failed"
expect_in "$ERR" "device: " "names the device"
expect_in "$ERR" "-DTEST_OPTION=7" "shows the build options"
expect_in "$ERR" "build log:" "prints the build log"
expect_in "$ERR" "this_name_is_not_declared" "the log holds the compiler's error"

run kernels --source "$DATA/good.cl"
expect_rc 0 "good source"
expect_in "$OUT" "good.cl: built, 1 kernel" "a good source builds"

run kernels --source "$WORK/missing.cl"
expect_rc 2 "missing source (bad input)"
expect_in "$ERR" "missing.cl" "names the missing file"
finish
