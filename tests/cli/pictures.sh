# The pictures from the command line: curves.png from train, the gate grid
# and routing heat map from gates (soft, hierarchical and switch gates),
# the confusion matrix from eval, and predict on PNG files (and on a file
# that is not one). Pixel-level checks live in test_pictures.c.
. "$(dirname "$0")/lib.sh"

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
png_size() { # width x height from the IHDR chunk
    local hex
    hex=$(head -c 24 "$1" | tail -c 8 | od -An -tx1 | tr -d ' \n')
    echo "$((16#${hex:0:8}))x$((16#${hex:8:8}))"
}
expect_png() { if [ -s "$1" ] && is_png "$1"; then pass; else fail "$2: $1 is not a PNG file"; fi; }

run train --model flat --synthetic 300 --epochs 2 --batch 32 --out "$WORK/flat"
expect_rc 0 "train the flat MoE"
expect_png "$WORK/flat/curves.png" "train draws curves.png"
[ "$(png_size "$WORK/flat/curves.png")" = "1120x384" ] && pass || fail "curves.png of one stage is $(png_size "$WORK/flat/curves.png")"

run curves "$WORK/flat" --out "$WORK/redrawn.png"
expect_rc 0 "curves redraws from metrics.jsonl"
# (the run directory is named as the model, so even the titles agree)
cmp -s "$WORK/redrawn.png" "$WORK/flat/curves.png" && pass || fail "the same metrics should give the same picture"
[ "$(png_size "$WORK/redrawn.png")" = "1120x384" ] && pass || fail "redrawn size $(png_size "$WORK/redrawn.png")"
run curves "$WORK/no-such-run"
[ "$RC" -ne 0 ] && pass || fail "curves on a missing run directory"
expect_in "$ERR" "no-such-run/metrics.jsonl" "names the missing file"

run gates --checkpoint "$WORK/flat/best.safetensors" --synthetic 200 --count 25 --out "$WORK/g.png"
expect_rc 0 "gates on a soft MoE"
expect_png "$WORK/g.png" "the gate grid"
expect_png "$WORK/g-routing.png" "the routing heat map beside it"
expect_in "$OUT" "25 test images in 3 bands" "one band per expert"
expect_in "$OUT" "of 200 test images" "shares over every evaluated image"
run gates --checkpoint "$WORK/flat/best.safetensors" --synthetic 200 --scale 2 --out "$WORK/g2.png" --heatmap "$WORK/h2.png"
expect_rc 0 "gates --scale 2 --heatmap"
expect_png "$WORK/h2.png" "--heatmap names the heat map"
w3=$(png_size "$WORK/g.png"); w2=$(png_size "$WORK/g2.png")
[ "${w3%x*}" -gt "${w2%x*}" ] && pass || fail "3x tiles ($w3) should make a wider picture than 2x ($w2)"

run eval --checkpoint "$WORK/flat/best.safetensors" --synthetic
expect_rc 0 "eval"
expect_png "$WORK/flat/best-confusion.png" "eval draws the confusion matrix beside the checkpoint"
run eval --checkpoint "$WORK/flat/best.safetensors" --synthetic --png "$WORK/cm.png"
expect_png "$WORK/cm.png" "eval --png"

# hierarchical: bands are the two routes of the binary gate
# (exit 3, a stage at chance on so few images, still leaves every picture)
run train --model "$TESTS_DIR/data/hier_tiny.json" --synthetic 600 --batch 32 --out "$WORK/hier"
[ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "train a tiny hierarchical MoE: exit code $RC"
expect_png "$WORK/hier/curves.png" "curves.png of a staged run"
[ "$(png_size "$WORK/hier/curves.png")" = "1120x1744" ] && pass || fail "five stages give five rows: $(png_size "$WORK/hier/curves.png")"
run gates --checkpoint "$WORK/hier/best.safetensors" --synthetic 100 --out "$WORK/hier.png"
expect_rc 0 "gates on a hierarchical MoE"
expect_in "$OUT" "expert_artificial" "a band for the artificial route"
expect_in "$OUT" "expert_natural" "a band for the natural route"

# switch: top-1 routes
run train --model switch --synthetic 300 --epochs 1 --batch 32 --out "$WORK/switch"
run gates --checkpoint "$WORK/switch/best.safetensors" --synthetic 100 --out "$WORK/switch.png"
expect_rc 0 "gates on a switch MoE"
expect_png "$WORK/switch.png" "switch gate grid"

# a model without a gate, and bad options
run train --model "$TESTS_DIR/data/tiny.json" --synthetic 100 --epochs 1 --out "$WORK/tiny"
run gates --checkpoint "$WORK/tiny/best.safetensors" --synthetic 50
expect_rc 2 "gates on a plain CNN"
expect_in "$ERR" "no gate that decides per image" "says why"
run gates --checkpoint "$WORK/flat/best.safetensors" --scale 5
expect_rc 2 "--scale 5"
run gates
expect_rc 2 "gates without --checkpoint"

# predict on PNG files of other sizes (the pictures above), text and JSON
run predict --checkpoint "$WORK/flat/best.safetensors" "$WORK/g.png" "$WORK/flat/curves.png"
expect_rc 0 "predict on two PNG files"
expect_in "$OUT" "g.png (" "names each file"
expect_in "$OUT" "probabilities:" "prints the class probabilities"
expect_in "$OUT" "route: expert_" "prints the gate's route"
expect_in "$OUT" "gate weights:" "prints the gate weights"
run predict --checkpoint "$WORK/flat/best.safetensors" --json "$WORK/g.png"
expect_rc 0 "predict --json"
expect_in "$OUT" '"probabilities": {"airplane": ' "JSON probabilities"
expect_in "$OUT" '"gates": {' "JSON gate weights"
run predict --checkpoint "$WORK/hier/best.safetensors" "$WORK/g.png"
expect_rc 0 "predict with a hierarchical MoE"
expect_in "$OUT" "route: expert_" "the binary gate's route"
run predict --checkpoint "$WORK/tiny/best.safetensors" "$WORK/g.png"
expect_rc 0 "predict with a plain CNN"
expect_not_in "$OUT" "route:" "no route without a gate"
printf 'GIF89a not really' >"$WORK/cat.gif"
run predict --checkpoint "$WORK/flat/best.safetensors" "$WORK/g.png" "$WORK/cat.gif"
expect_rc 2 "a file that is not a PNG"
expect_in "$ERR" "cat.gif" "names the file"
expect_in "$ERR" "not a PNG" "says what is wrong"
run predict --checkpoint "$WORK/flat/best.safetensors" "$WORK/nothing.png"
[ "$RC" -ne 0 ] && pass || fail "a missing image file"
expect_in "$ERR" "nothing.png" "names the missing file"
run predict --checkpoint "$WORK/flat/best.safetensors"
expect_rc 2 "predict without images"
finish
