# The measured choice end to end (--gemm auto): a cold run measures each
# shape and says so, keeps the times in the cache directory, and a warm run
# measures nothing; forcing a path or an unknown one.
. "$(dirname "$0")/lib.sh"
export MOECL_GEMM=auto
run bench train --model vgg_small --batch 8 --steps 1
expect_rc 0 "cold bench train"
expect_in "$ERR" "moecl: measured gemm" "the cold run measures GEMM shapes"
expect_in "$ERR" "moecl: measured conv forward" "and convolution passes"
file=$(ls "$MOECL_CACHE_DIR"/choices-*.txt 2>/dev/null | head -1)
[ -n "$file" ] && pass || fail "no choices file in $MOECL_CACHE_DIR"
expect_not_in "$(cat "$file" 2>/dev/null)" "own1=" "the file names parameter sets, not slots"
expect_in "$(cat "$file" 2>/dev/null)" "clblast=" "the file keeps CLBlast's time"
run bench train --model vgg_small --batch 8 --steps 1
expect_rc 0 "warm bench train"
expect_not_in "$ERR" "measured" "the warm run measures nothing"
run --gemm clblast bench train --model vgg_small --batch 8 --steps 1
expect_rc 0 "--gemm clblast"
run --gemm own9 bench train --model vgg_small --batch 8 --steps 1
expect_rc 2 "--gemm own9 (no ninth parameter set)"
expect_in "$ERR" "unknown GEMM path 'own9'" "the error names the path"
# a strided convolution has one way of its own (no direct kernel): nothing
# to measure, and no entry that the next run's reader would refuse
export MOECL_GEMM=own1
run train --model "$TESTS_DIR/data/tiny.json" --synthetic 300 --epochs 1 --batch 32 --out "$WORK/strided"
expect_rc 0 "train a model with a strided convolution"
run train --model "$TESTS_DIR/data/tiny.json" --synthetic 300 --epochs 1 --batch 32 --out "$WORK/strided2"
expect_rc 0 "and again, from the kept choices"
expect_not_in "$ERR" "ignored the choice file" "the kept choices read back"
finish
