/* A one-line progress bar on a terminal (carriage return, rewritten at most
 * five times a second): bar, count, rate, time left and a caller's text.
 * Into a file or pipe it writes a plain line every 30 seconds instead. */
#ifndef MOECL_PROGRESS_H
#define MOECL_PROGRESS_H

#include <stdio.h>

typedef struct progress {
    FILE *out;
    long total;
    long first; /* done before this start (a resumed epoch): not in the rate */
    double start, last_draw;
    const char *unit;
    int tty; /* redraw in place; otherwise a plain line now and then */
} progress;

void progress_start(progress *p, FILE *out, long total, const char *unit);
/* The work is resumed with `done` already finished before the start. */
void progress_resume_at(progress *p, long done);
/* Redraws if 0.2 s have passed (or done == total); extra is appended. */
void progress_update(progress *p, long done, const char *extra);
/* Clears the line so that a summary can be printed in its place. */
void progress_clear(progress *p);

#endif
