# Comparing two runs' numbers (sourced by tests that train the same model
# two ways: drivers.sh, mpi.sh); TOL is the relative tolerance.
# largest relative difference of train_loss and val_loss, line by line;
# fails where the files have different numbers of lines
compare_metrics() {
    awk -v tol="$TOL" '
        function val(line, key,   i) { i = index(line, "\"" key "\": "); return i ? substr(line, i + length(key) + 4) + 0 : "none" }
        FNR == NR { a[FNR] = $0; n = FNR; next }
        { m = FNR
          for (k = 1; k <= 2; k++) {
              key = k == 1 ? "train_loss" : "val_loss"; x = val(a[FNR], key); y = val($0, key)
              if (x == "none" || y == "none") { bad = 1; continue }
              d = x - y; d = d < 0 ? -d : d; r = d / (x < 0 ? -x : x)
              if (r > worst) { worst = r; at = "step " FNR " " key " " x " against " y }
          } }
        END { printf "%d steps, largest relative difference %.2g %s\n", n, worst, at
              exit !(n == m && n > 0 && !bad && worst <= tol) }' "$1" "$2"
}
# every number in two outputs, in order, within a relative TOL (or 1e-6 absolute)
compare_numbers() {
    paste <(printf '%s\n' "$1" | grep -oE -- '-?[0-9]+\.[0-9]+(e-?[0-9]+)?') \
          <(printf '%s\n' "$2" | grep -oE -- '-?[0-9]+\.[0-9]+(e-?[0-9]+)?') |
        awk -v tol="$TOL" '{ n++; d = $1 - $2; d = d < 0 ? -d : d; s = $1 < 0 ? -$1 : $1
                             if ($2 == "" || (d > 1e-6 && d > tol * s)) bad++ }
                           END { printf "%d numbers, %d differ\n", n, bad; exit !(n > 0 && !bad) }'
}

# eval --json of two runs' last checkpoints on the same 40 synthetic images,
# every number compared (compare_numbers); WHAT names the pair (uses lib.sh)
compare_checkpoints() { # compare_checkpoints WHAT DIR_A DIR_B
    local what=$1 dir msg outs=()
    for dir in "$2" "$3"; do
        run eval --checkpoint "$dir/last.safetensors" --synthetic --test-examples 40 --json
        expect_rc 0 "$what: eval of $dir/last.safetensors"
        outs+=("$OUT")
    done
    msg=$(compare_numbers "${outs[0]}" "${outs[1]}") && pass || fail "$what: the checkpoints differ: $msg"
    echo "$what, eval --json of the checkpoints: $msg"
}
