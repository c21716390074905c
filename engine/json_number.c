/* Numbers in the JSON moecl writes by hand (metrics.jsonl, --json output).
 * JSON has no NaN or Infinity: printf would write "nan" or "inf" and make the
 * whole line unreadable to every JSON reader (moecl curves included), so a
 * value that is not finite is written as null: "no number". */
#include "moecl.h"

#include <limits.h>
#include <math.h>

void moecl_json_number(FILE *out, double v, int decimals)
{
    if (isfinite(v))
        fprintf(out, "%.*f", decimals, v);
    else
        fputs("null", out);
}

int moecl_int_of(double v)
{
    if (isnan(v)) return 0;
    if (v >= (double)INT_MAX) return INT_MAX;
    if (v <= (double)INT_MIN) return INT_MIN;
    return (int)v;
}
