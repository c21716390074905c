/* The gate-decision picture: test images grouped in one band per expert
 * (the expert the gate chose, or the dominant one for soft gates), each
 * framed in a colour for the chosen expert's gate weight, with the true and
 * the predicted class under it and a bar of every expert's weight. */
#ifndef MOECL_GATE_GRID_H
#define MOECL_GATE_GRID_H

#include "image.h"

#define GATE_GRID_MAX_EXPERTS 16

typedef struct gate_tile {
    const uint8_t *pixels; /* CIFAR planes [3][32][32] */
    int label, pred;
    int expert;            /* the band: chosen expert, -1 = dropped (no room) */
    float weights[GATE_GRID_MAX_EXPERTS]; /* every expert's gate weight */
} gate_tile;

typedef struct gate_grid_spec {
    const char *title, *subtitle;
    int n_experts;
    const char *expert_names[GATE_GRID_MAX_EXPERTS];
    double share[GATE_GRID_MAX_EXPERTS]; /* of all evaluated images */
    int evaluated;                       /* how many images the shares count */
    const char *weight_name;             /* what the frame colour is, e.g. "gate weight" */
    const char *const *class_names;
    int scale;                           /* 2 or 3 */
    int columns;
    bool bars;
    const gate_tile *tiles;
    int count;
} gate_grid_spec;

/* Where a tile's image was drawn (its top-left; it spans 32*scale square)
 * and the frame around it. */
typedef struct tile_place {
    int x, y, band;
} tile_place;

#define GATE_GRID_FRAME 4 /* frame thickness in pixels */

/* Renders the picture; places (count entries, may be NULL) gets each
 * tile's position. */
moecl_status gate_grid_render(const gate_grid_spec *s, image *out, tile_place *places);
/* The frame colour for the chosen expert's weight. */
rgb gate_grid_frame_colour(double weight);

#endif
