/* Layout: title and key on top; then for each expert (and a last band for
 * dropped images, if any) a header with its colour, name and share, and its
 * tiles in rows. A tile is the scaled image inside a coloured frame, the
 * true class under it, the prediction (white on red when wrong), and
 * optionally a stacked bar of the expert weights. */
#include "gate_grid.h"
#include "colours.h"

#include <stdio.h>
#include <string.h>

#define EMPTY_BAND 28 /* the height of a band with no image shown */

rgb gate_grid_frame_colour(double weight) { return colour_viridis(weight); }

typedef struct geometry {
    int side, tile_w, cell_w, cell_h, label_y, pred_y, bar_y, header_h, margin, top;
} geometry;

static geometry measure(const gate_grid_spec *s)
{
    geometry g;
    const int th = text_height(1);
    g.margin = 16;
    g.side = 32 * s->scale;
    g.tile_w = g.side + 2 * GATE_GRID_FRAME;
    g.cell_w = g.tile_w + 10;
    g.label_y = g.tile_w + 3;
    g.pred_y = g.label_y + th + 2;
    g.bar_y = g.pred_y + th + 4;
    g.cell_h = g.bar_y + (s->bars ? 7 : 0) + 12;
    g.header_h = 2 * th + 14;
    g.top = g.margin + 2 * th + 6 + (s->subtitle ? th + 6 : 0) + 4 + (s->bars ? 44 : 30) + 8;
    return g;
}

/* Fits a class name into the tile width: the whole name, else its start. */
static void fit(char *buf, size_t size, const char *prefix, const char *name, int width)
{
    snprintf(buf, size, "%s%s", prefix, name);
    size_t max = (size_t)(width / text_width("x", 1));
    if (strlen(buf) > max && max > 0) buf[max] = '\0';
}

static void draw_key(image *img, const gate_grid_spec *s, int x, int y)
{
    char buf[160];
    snprintf(buf, sizeof buf, "frame: %s of the chosen expert", s->weight_name ? s->weight_name : "gate weight");
    draw_text(img, x, y + 3, buf, COLOUR_TEXT, 1);
    int kx = x + text_width(buf, 1) + 10, kw = 160;
    for (int i = 0; i < kw; i++) image_fill(img, kx + i, y, 1, 14, gate_grid_frame_colour((double)i / (kw - 1)));
    draw_text(img, kx, y + 16, "0", COLOUR_MUTED, 1);
    draw_text_centred(img, kx + kw / 2, y + 16, "0.5", COLOUR_MUTED, 1);
    draw_text_right(img, kx + kw, y + 16, "1", COLOUR_MUTED, 1);
    int mx = kx + kw + 24;
    const char *under = "under each image: true class, then prediction:";
    draw_text(img, mx, y + 3, under, COLOUR_TEXT, 1);
    mx += text_width(under, 1) + 6;
    draw_text(img, mx, y + 3, "right", COLOUR_RIGHT, 1);
    mx += text_width("right", 1) + 8;
    const char *wrong = "wrong";
    image_fill(img, mx - 1, y + 2, text_width(wrong, 1) + 2, text_height(1) + 2, COLOUR_WRONG);
    draw_text(img, mx, y + 3, wrong, COLOUR_WHITE, 1);
    if (s->bars)
        draw_text(img, x, y + 30, "bar under each image: every expert's weight, in the experts' colours",
                  COLOUR_TEXT, 1);
}

moecl_status gate_grid_render(const gate_grid_spec *s, image *out, tile_place *places)
{
    geometry g = measure(s);
    int bands = s->n_experts, dropped = 0;
    for (int i = 0; i < s->count; i++) dropped += s->tiles[i].expert < 0;
    if (dropped) bands++;
    int cols = s->columns > 0 ? s->columns : 10;
    int in_band[GATE_GRID_MAX_EXPERTS + 1] = {0};
    for (int i = 0; i < s->count; i++) {
        int b = s->tiles[i].expert < 0 ? s->n_experts : s->tiles[i].expert;
        in_band[b]++;
    }
    int h = g.top;
    for (int b = 0; b < bands; b++) {
        int rows = (in_band[b] + cols - 1) / cols;
        h += g.header_h + (rows ? rows * g.cell_h : EMPTY_BAND);
    }
    h += g.margin;
    int w = 2 * g.margin + cols * g.cell_w;
    if (w < 900) w = 900;
    MOECL_TRY(image_create(out, w, h, COLOUR_WHITE));
    const int th = text_height(1);
    draw_text(out, g.margin, g.margin, s->title, COLOUR_TEXT, 2);
    int y = g.margin + 2 * th + 6;
    if (s->subtitle) draw_text(out, g.margin, y, s->subtitle, COLOUR_MUTED, 1), y += th + 6;
    draw_key(out, s, g.margin, y + 4);

    y = g.top;
    char buf[200];
    for (int b = 0; b < bands; b++) {
        bool drop_band = b == s->n_experts;
        rgb colour = drop_band ? COLOUR_MUTED : colour_expert(b);
        image_fill(out, g.margin, y + 4, w - 2 * g.margin, 2, colour);
        image_fill(out, g.margin, y + 12, 14, 14, colour);
        const char *name = drop_band ? "dropped (the expert was full)" : s->expert_names[b];
        draw_text(out, g.margin + 22, y + 10, name, COLOUR_TEXT, 2);
        if (!drop_band)
            snprintf(buf, sizeof buf, "%.1f%% of %d test images, %d shown", 100 * s->share[b],
                     s->evaluated, in_band[b]);
        else
            snprintf(buf, sizeof buf, "%d shown", in_band[b]);
        draw_text(out, g.margin + 22 + text_width(name, 2) + 14, y + 16, buf, COLOUR_MUTED, 1);
        y += g.header_h;
        if (in_band[b] == 0) draw_text(out, g.margin + 22, y + 8, "(none of the images shown)", COLOUR_MUTED, 1);
        int slot = 0;
        for (int i = 0; i < s->count; i++) {
            const gate_tile *t = &s->tiles[i];
            int tb = t->expert < 0 ? s->n_experts : t->expert;
            if (tb != b) continue;
            int tx = g.margin + (slot % cols) * g.cell_w, ty = y + (slot / cols) * g.cell_h;
            slot++;
            double wgt = t->expert >= 0 ? t->weights[t->expert] : 0;
            image_frame(out, tx, ty, g.tile_w, g.tile_w, GATE_GRID_FRAME, gate_grid_frame_colour(wgt));
            image_blit_cifar(out, t->pixels, tx + GATE_GRID_FRAME, ty + GATE_GRID_FRAME, s->scale);
            if (places) places[i] = (tile_place){tx + GATE_GRID_FRAME, ty + GATE_GRID_FRAME, b};
            fit(buf, sizeof buf, "", s->class_names[t->label], g.tile_w);
            draw_text(out, tx, ty + g.label_y, buf, COLOUR_MUTED, 1);
            bool right = t->pred == t->label;
            fit(buf, sizeof buf, "", s->class_names[t->pred], g.tile_w);
            if (!right) image_fill(out, tx, ty + g.pred_y - 1, text_width(buf, 1) + 2, th + 2, COLOUR_WRONG);
            draw_text(out, tx + 1, ty + g.pred_y, buf, right ? COLOUR_RIGHT : COLOUR_WHITE, 1);
            if (s->bars) { /* stacked weights, expert colours, in expert order */
                int bw = g.tile_w;
                double acc = 0;
                for (int k = 0; k < s->n_experts; k++) {
                    int x0 = tx + (int)(acc * bw + 0.5);
                    acc += t->weights[k] < 0 ? 0 : t->weights[k];
                    int x1 = tx + (int)((acc > 1 ? 1 : acc) * bw + 0.5);
                    image_fill(out, x0, ty + g.bar_y, x1 - x0, 6, colour_expert(k));
                }
                image_frame(out, tx - 1, ty + g.bar_y - 1, bw + 2, 8, 1, COLOUR_GRID);
            }
        }
        int rows = (in_band[b] + cols - 1) / cols;
        y += rows ? rows * g.cell_h : EMPTY_BAND;
    }
    return MOECL_OK;
}
