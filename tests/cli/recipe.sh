# A model file's "recipe": `moecl train --model M` with no other option trains
# with the recipe's options (they land in options.json), the command line
# overrides any of them, `info` shows it, and a recipe naming an option it
# cannot set, or a bad value, is refused naming the file and the option.
. "$(dirname "$0")/lib.sh"
model_with() { # model_with RECIPE-JSON > file
    printf '{"name": "r", "recipe": %s, "layers": [{"type": "conv2d", "filters": 4, "padding": "same",
      "activation": "relu"}, {"type": "maxpool", "pool_size": 4}, {"type": "flatten"},
      {"type": "dense", "units": 10}]}' "$1"
}
opt() { grep -oE "\"$1\":[[:space:]]*[^,}]*" "$2" | sed 's/.*:[[:space:]]*//'; }
model_with '{"epochs": 2, "batch": 16, "optimizer": "sgd", "nesterov": true, "lr": 0.05,
  "schedule": "triangle", "label_smoothing": 0.2, "augment": "translate,flip", "tta": true,
  "patience": 0}' >"$WORK/r.json"
run info --model "$WORK/r.json"
expect_rc 0 "info of a model with a recipe"
expect_in "$OUT" '"schedule":"triangle"' "info shows the recipe"

finished() { [ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "$1: exit code $RC"; } # 3: at chance
run train --model "$WORK/r.json" --synthetic 96 --out "$WORK/as-measured"
finished "train with the recipe alone"
o="$WORK/as-measured/options.json"
[ "$(opt epochs "$o")" = 2 ] && [ "$(opt batch "$o")" = 16 ] && pass || fail "epochs 2, batch 16: $(cat "$o")"
[ "$(opt optimizer "$o")" = '"sgd"' ] && [ "$(opt nesterov "$o")" = true ] && pass || fail "Nesterov SGD"
[ "$(opt schedule "$o")" = '"triangle"' ] && [ "$(opt tta "$o")" = '"flip"' ] && pass || fail "schedule and TTA"
[ "$(opt augment_translate "$o")" = true ] && [ "$(opt augment_flip "$o")" = true ] && pass || fail "augmentation"
awk -v x="$(opt label_smoothing "$o")" 'BEGIN { exit !(x > 0.199 && x < 0.201) }' && pass || fail "label smoothing"
awk -v x="$(opt lr "$o")" 'BEGIN { exit !(x > 0.0499 && x < 0.0501) }' && pass || fail "lr 0.05"
[ "$(wc -l <"$WORK/as-measured/metrics.jsonl")" -eq 2 ] && pass || fail "two epochs"

run train --model "$WORK/r.json" --synthetic 96 --epochs 1 --batch 32 --optimizer adam --out "$WORK/override"
finished "the command line over the recipe"
o="$WORK/override/options.json"
[ "$(opt epochs "$o")" = 1 ] && [ "$(opt batch "$o")" = 32 ] && [ "$(opt optimizer "$o")" = '"adam"' ] &&
    pass || fail "epochs, batch and optimizer from the command line: $(cat "$o")"
[ "$(opt schedule "$o")" = '"triangle"' ] && pass || fail "the rest from the recipe"
model_with '{"epochs": 1, "batch": 16, "tta": "translate", "patience": 0}' >"$WORK/tta.json"
run train --model "$WORK/tta.json" --synthetic 64 --out "$WORK/tta-run"
finished "a recipe with translation TTA"
[ "$(opt tta "$WORK/tta-run/options.json")" = '"translate"' ] && pass || fail "tta translate in options.json"
run train --model "$WORK/tta.json" --synthetic 64 --tta flip --out "$WORK/tta-flip"
[ "$(opt tta "$WORK/tta-flip/options.json")" = '"flip"' ] && pass || fail "--tta flip over the recipe's"

model_with '{"epochs": 2, "dropout": 0.5}' >"$WORK/bad-key.json"
run train --model "$WORK/bad-key.json" --synthetic 64 --out "$WORK/bad1"
expect_rc 2 "a recipe with an option it cannot set"
expect_in "$ERR" "bad-key.json': recipe: 'dropout' is not an option a recipe sets" "names the file and the option"
model_with '{"batch": 0}' >"$WORK/bad-value.json"
run train --model "$WORK/bad-value.json" --synthetic 64 --out "$WORK/bad2"
expect_rc 2 "a recipe with batch 0"
expect_in "$ERR" "'batch' must be a whole number from 1" "says what batch must be"
[ ! -e "$WORK/bad1" ] && [ ! -e "$WORK/bad2" ] && pass || fail "no run directory made"
model_with '[1, 2]' >"$WORK/bad-type.json"
run info --model "$WORK/bad-type.json"
expect_rc 2 "a recipe that is not an object"
finish
