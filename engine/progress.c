#include "progress.h"
#include "moecl.h"

#include <string.h>
#include <unistd.h>

void progress_start(progress *p, FILE *out, long total, const char *unit)
{
    p->out = out;
    p->total = total;
    p->first = 0;
    p->start = moecl_seconds();
    p->last_draw = 0;
    p->unit = unit;
    p->tty = out && isatty(fileno(out));
}

void progress_resume_at(progress *p, long done) { p->first = done; }

static void format_time(double s, char *buf, size_t size)
{
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

void progress_update(progress *p, long done, const char *extra)
{
    if (!p->out) return;
    double now = moecl_seconds();
    /* A terminal gets a bar redrawn in place; a log file a line every 30 s. */
    if (done < p->total && now - p->last_draw < (p->tty ? 0.2 : 30.0)) return;
    if (!p->tty && done >= p->total) return;
    p->last_draw = now;
    double elapsed = now - p->start, rate = elapsed > 0 ? (done - p->first) / elapsed : 0;
    char left[32], spent[32];
    format_time(rate > 0 ? (p->total - done) / rate : 0, left, sizeof left);
    format_time(elapsed, spent, sizeof spent);
    const int width = 24;
    int filled = p->total > 0 ? (int)(width * done / p->total) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(p->out, "%s[%s] %ld/%ld %.1f %s/s %s, %s left %s%s", p->tty ? "\r" : "", bar, done,
            p->total, rate, p->unit, spent, left, extra ? extra : "", p->tty ? "\033[K" : "\n");
    fflush(p->out);
}

void progress_clear(progress *p)
{
    if (!p->out || !p->tty) return;
    fprintf(p->out, "\r\033[K");
    fflush(p->out);
}
