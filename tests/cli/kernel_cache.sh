# The program cache seen from the command line: a miss, then a hit, then
# corrupted files rebuilt, and --no-cache touching nothing.
. "$(dirname "$0")/lib.sh"

run kernels
expect_rc 0 "cold kernels"
expect_in "$OUT" " miss " "first run misses"
expect_not_in "$OUT" " hit " "first run has no hit"
files=$(ls "$MOECL_CACHE_DIR"/*.bin 2>/dev/null | wc -l)
[ "$files" -ge 1 ] && pass || fail "cache files written ($files)"

run kernels
expect_rc 0 "warm kernels"
expect_in "$OUT" " hit " "second run hits"
expect_not_in "$OUT" " miss " "second run builds nothing"
expect_in "$OUT" "0 built" "summary: nothing built"

for f in "$MOECL_CACHE_DIR"/*.bin; do printf 'garbage' | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null; done
run kernels
expect_rc 0 "kernels over a corrupt cache"
expect_in "$OUT" " rebuilt " "corrupt files are rebuilt"
run kernels
expect_in "$OUT" " hit " "rebuilt files hit afterwards"

for f in "$MOECL_CACHE_DIR"/*.bin; do head -c 50 "$f" >"$f.cut" && mv "$f.cut" "$f"; done
run kernels
expect_in "$OUT" " rebuilt " "truncated files are rebuilt"

before=$(ls -l --time-style=+%s.%N "$MOECL_CACHE_DIR")
run --no-cache kernels
expect_rc 0 "--no-cache"
expect_in "$OUT" " off " "--no-cache reports the cache off"
after=$(ls -l --time-style=+%s.%N "$MOECL_CACHE_DIR")
[ "$before" = "$after" ] && pass || fail "--no-cache wrote to the cache"

run --cache-dir "$WORK/other" kernels
expect_in "$OUT" "$WORK/other" "--cache-dir is used"
[ -n "$(ls "$WORK/other")" ] && pass || fail "--cache-dir holds the files"

# A cache directory that cannot be written: a warning, and kernels still build.
touch "$WORK/a-file"
run --cache-dir "$WORK/a-file/sub" kernels
expect_rc 0 "unwritable cache dir"
expect_in "$ERR" "not writable" "warns about the cache directory"
finish
