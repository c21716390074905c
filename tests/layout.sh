# The layout rules of the codebase, checked: no source file over 800 lines,
# and no two files of the engine that call each other, directly or round a
# longer loop (from the engine library's symbols: file A calls file B when
# A's object uses a function B's defines).
set -u
LIB=${1:?usage: $0 path/to/libmoecl_engine.a}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
status=0

long=$(find "$ROOT/engine" "$ROOT/apps" "$ROOT/tests" "$ROOT/cl" -name '*.[ch]' -o -name '*.cl' -o -name '*.sh' |
    xargs wc -l | awk '$2 != "total" && $1 > 800 { print $2 " (" $1 " lines)" }')
if [ -n "$long" ]; then
    echo "files over 800 lines:"
    echo "$long"
    status=1
fi

# edges "caller callee" between object files, then a depth-first search for cycles
nm -A "$LIB" 2>/dev/null | awk '
    { split($1, p, ":"); obj = p[2] }
    $2 == "T" { def[$3] = obj }
    $2 == "U" { use[obj, $3] = 1 }
    END { for (k in use) { split(k, q, SUBSEP); if (q[2] in def && def[q[2]] != q[1]) print q[1], def[q[2]] } }' |
    sort -u >"${TMPDIR:-/tmp}/moecl-calls.$$"
cycle=$(awk '
    { out[$1] = out[$1] " " $2; nodes[$1]; nodes[$2] }
    function visit(n,   i, k, m) {
        state[n] = 1; path[++depth] = n
        k = split(out[n], m, " ")
        for (i = 1; i <= k; i++) {
            if (state[m[i]] == 1) { s = ""; for (j = 1; j <= depth; j++) if (found || path[j] == m[i]) { found = 1; s = s path[j] " -> " }
                                    print s m[i]; exit }
            if (!state[m[i]]) visit(m[i])
        }
        state[n] = 2; depth--
    }
    END { for (n in nodes) if (!state[n]) visit(n) }' "${TMPDIR:-/tmp}/moecl-calls.$$")
rm -f "${TMPDIR:-/tmp}/moecl-calls.$$"
if [ -n "$cycle" ]; then
    echo "engine files that call each other in a loop: $cycle"
    status=1
fi
[ $status -eq 0 ] && echo "layout: no file over 800 lines, no call loop between engine files"
exit $status
