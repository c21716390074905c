# Usage errors exit 2 with a pointer to help; help and version exit 0.
. "$(dirname "$0")/lib.sh"
run no-such-command
expect_rc 2 "unknown command"
expect_in "$ERR" "unknown command 'no-such-command'" "names the command"
run
expect_rc 2 "no command"
expect_in "$ERR" "Usage:" "prints usage"
run help
expect_rc 0 "help"
for word in devices kernels bench train eval info --resume --device --no-cache --cache-dir \
            MOECL_DEVICE MOECL_CACHE_DIR MOECL_DATA; do
    expect_in "$OUT" "$word" "help mentions $word"
done
run version
expect_rc 0 "version"
run bench
expect_rc 2 "bench without a name"
run bench gemm --max-size abc
expect_rc 2 "bad --max-size"
run devices --bogus
expect_rc 2 "unknown option"
finish
