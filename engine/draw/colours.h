/* The colours every picture shares: a perceptual scale for weights
 * (viridis), a sequential scale for heat maps, one colour per expert. */
#ifndef MOECL_COLOURS_H
#define MOECL_COLOURS_H

#include "image.h"

#define COLOUR_WHITE ((rgb){255, 255, 255})
#define COLOUR_BLACK ((rgb){0, 0, 0})
#define COLOUR_TEXT ((rgb){40, 40, 40})
#define COLOUR_MUTED ((rgb){110, 110, 110})
#define COLOUR_GRID ((rgb){225, 225, 225})
#define COLOUR_RIGHT ((rgb){0, 130, 60})
#define COLOUR_WRONG ((rgb){200, 30, 30})

/* t in [0, 1] (clamped): dark purple -> blue -> green -> yellow. */
rgb colour_viridis(double t);
/* t in [0, 1]: near white -> dark blue. */
rgb colour_blues(double t);
/* A distinct colour for expert k (ten, then repeating). */
rgb colour_expert(int k);
/* Black or white, whichever reads better on background c. */
rgb colour_text_on(rgb c);

#endif
