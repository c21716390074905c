/* The pictures: PNG files written and read back with libpng (every colour
 * type), scaling, the font, the gate grid (size, tile placement, frame
 * colours, tile pixels equal to the source image scaled), heat maps and
 * training curves. No device needed. */
#include "check.h"
#include "draw/chart.h"
#include "draw/colours.h"
#include "draw/curves.h"
#include "draw/gate_grid.h"
#include "draw/heatmap.h"
#include "draw/result_chart.h"
#include "draw/image.h"

#include <png.h>
#include <unistd.h>

static char dir[256];

static const char *tmp_path(const char *name)
{
    static char paths[4][512]; /* several may be live in one call */
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, 512, "%s/%s", dir, name);
    return path;
}

static bool same_rgb(rgb a, rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

/* Writes a PNG of any colour type with libpng itself (rows of raw bytes). */
static void write_raw_png(const char *path, int w, int h, int depth, int type, const uint8_t *data,
                          int row_bytes, const png_color *palette, int n_palette,
                          const uint8_t *trans, int n_trans, bool interlace)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "libpng failed writing %s\n", path);
        exit(1);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, n_palette);
    if (trans) png_set_tRNS(png, info, trans, n_trans, NULL);
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)data + (size_t)y * row_bytes;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
}

static void test_round_trip(void)
{
    image a, b;
    REQUIRE_OK(image_create(&a, 37, 23, (rgb){1, 2, 3}));
    for (int y = 0; y < a.h; y++)
        for (int x = 0; x < a.w; x++) image_set(&a, x, y, (rgb){(uint8_t)(x * 7), (uint8_t)(y * 11), (uint8_t)(x ^ y)});
    REQUIRE_OK(png_write(tmp_path("a.png"), &a));
    REQUIRE_OK(png_read(tmp_path("a.png"), &b));
    CHECK(b.w == 37 && b.h == 23, "size %dx%d", b.w, b.h);
    CHECK(b.w == a.w && b.h == a.h && memcmp(a.px, b.px, (size_t)a.w * a.h * 3) == 0, "pixels differ");
    image_free(&a);
    image_free(&b);
}

static void test_colour_types(void)
{
    image img;
    /* 8-bit grey, 3x2 */
    uint8_t grey[6] = {0, 50, 100, 150, 200, 255};
    write_raw_png(tmp_path("grey.png"), 3, 2, 8, PNG_COLOR_TYPE_GRAY, grey, 3, NULL, 0, NULL, 0, false);
    REQUIRE_OK(png_read(tmp_path("grey.png"), &img));
    CHECK(img.w == 3 && img.h == 2 && same_rgb(image_get(&img, 1, 0), (rgb){50, 50, 50}) &&
              same_rgb(image_get(&img, 2, 1), (rgb){255, 255, 255}), "grey");
    image_free(&img);
    /* 1-bit grey: 8 pixels in a byte, 1010 0101 */
    uint8_t bits[1] = {0xA5};
    write_raw_png(tmp_path("bits.png"), 8, 1, 1, PNG_COLOR_TYPE_GRAY, bits, 1, NULL, 0, NULL, 0, false);
    REQUIRE_OK(png_read(tmp_path("bits.png"), &img));
    CHECK(same_rgb(image_get(&img, 0, 0), (rgb){255, 255, 255}) && same_rgb(image_get(&img, 1, 0), (rgb){0, 0, 0}),
          "1-bit grey expands to 0/255");
    image_free(&img);
    /* palette with a transparent entry: blended onto white */
    png_color pal[3] = {{255, 0, 0}, {0, 0, 255}, {0, 0, 0}};
    uint8_t trans[3] = {255, 255, 0};
    uint8_t idx[4] = {0, 1, 2, 1};
    write_raw_png(tmp_path("pal.png"), 2, 2, 8, PNG_COLOR_TYPE_PALETTE, idx, 2, pal, 3, trans, 3, false);
    REQUIRE_OK(png_read(tmp_path("pal.png"), &img));
    CHECK(same_rgb(image_get(&img, 0, 0), (rgb){255, 0, 0}) && same_rgb(image_get(&img, 1, 0), (rgb){0, 0, 255}) &&
              same_rgb(image_get(&img, 0, 1), (rgb){255, 255, 255}), "palette and its transparency");
    image_free(&img);
    /* RGBA: half-transparent black over white is mid grey */
    uint8_t rgba[8] = {0, 0, 0, 128, 10, 20, 30, 255};
    write_raw_png(tmp_path("rgba.png"), 2, 1, 8, PNG_COLOR_TYPE_RGBA, rgba, 8, NULL, 0, NULL, 0, false);
    REQUIRE_OK(png_read(tmp_path("rgba.png"), &img));
    rgb half = image_get(&img, 0, 0);
    CHECK(half.r == 127 && half.g == 127 && half.b == 127, "alpha 128 over white: %d", half.r);
    CHECK(same_rgb(image_get(&img, 1, 0), (rgb){10, 20, 30}), "opaque pixel kept");
    image_free(&img);
    /* grey + alpha */
    uint8_t ga[4] = {0, 0, 90, 255};
    write_raw_png(tmp_path("ga.png"), 2, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, ga, 4, NULL, 0, NULL, 0, false);
    REQUIRE_OK(png_read(tmp_path("ga.png"), &img));
    CHECK(same_rgb(image_get(&img, 0, 0), (rgb){255, 255, 255}) && same_rgb(image_get(&img, 1, 0), (rgb){90, 90, 90}),
          "grey+alpha");
    image_free(&img);
    /* 16-bit RGB, interlaced, 5x3 */
    uint8_t deep[3 * 5 * 6];
    for (int i = 0; i < 15; i++)
        for (int c = 0; c < 3; c++) deep[i * 6 + c * 2] = (uint8_t)(i * 10 + c), deep[i * 6 + c * 2 + 1] = 0x80;
    write_raw_png(tmp_path("deep.png"), 5, 3, 16, PNG_COLOR_TYPE_RGB, deep, 30, NULL, 0, NULL, 0, true);
    REQUIRE_OK(png_read(tmp_path("deep.png"), &img));
    rgb p = image_get(&img, 4, 2); /* i = 14: high bytes 140, 141, 142 */
    CHECK(img.w == 5 && img.h == 3 && p.r == 140 && p.g == 141 && p.b == 142, "16-bit interlaced: %d %d %d",
          p.r, p.g, p.b);
    image_free(&img);
}

static void test_bad_files(void)
{
    image img;
    FILE *f = fopen(tmp_path("photo.jpg"), "wb");
    fputs("\xff\xd8\xff\xe0 this is a JPEG", f);
    fclose(f);
    CHECK(png_read(tmp_path("photo.jpg"), &img) != MOECL_OK, "a JPEG is refused");
    CHECK(strstr(moecl_last_error(), "photo.jpg") && strstr(moecl_last_error(), "not a PNG"), "%s",
          moecl_last_error());
    /* a PNG cut short */
    char *data = NULL;
    size_t size = 0;
    REQUIRE_OK(moecl_read_file(tmp_path("a.png"), &data, &size));
    f = fopen(tmp_path("cut.png"), "wb");
    fwrite(data, 1, size / 2, f);
    fclose(f);
    free(data);
    CHECK(png_read(tmp_path("cut.png"), &img) != MOECL_OK, "a truncated PNG is refused");
    CHECK(strstr(moecl_last_error(), "cut.png") != NULL, "%s", moecl_last_error());
    CHECK(img.px == NULL, "nothing left allocated");
    CHECK(png_read(tmp_path("missing.png"), &img) != MOECL_OK, "a missing file");
    CHECK(strstr(moecl_last_error(), "missing.png") != NULL, "%s", moecl_last_error());
}

static void test_resize(void)
{
    image src, dst;
    /* 64x64 of 2x2 blocks: each target pixel is its block's mean */
    REQUIRE_OK(image_create(&src, 64, 64, (rgb){0, 0, 0}));
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) image_set(&src, x, y, (rgb){(uint8_t)((x + y) % 2 ? 200 : 100), (uint8_t)(x * 2), 7});
    REQUIRE_OK(image_resize(&src, 32, 32, &dst));
    CHECK(dst.w == 32 && dst.h == 32, "size");
    rgb p = image_get(&dst, 5, 9);
    CHECK(p.r == 150 && p.g == 21 && p.b == 7, "area mean: %d %d %d", p.r, p.g, p.b); /* (20+22)/2 + ... */
    image_free(&src);
    image_free(&dst);
    /* growing a flat 7x5 image keeps it flat; an odd-sized shrink is the overall mean */
    REQUIRE_OK(image_create(&src, 7, 5, (rgb){30, 60, 90}));
    REQUIRE_OK(image_resize(&src, 32, 32, &dst));
    CHECK(same_rgb(image_get(&dst, 31, 31), (rgb){30, 60, 90}) && same_rgb(image_get(&dst, 0, 0), (rgb){30, 60, 90}),
          "flat stays flat");
    image_free(&src);
    image_free(&dst);
    REQUIRE_OK(image_create(&src, 99, 70, (rgb){0, 0, 0}));
    for (int y = 0; y < 70; y++)
        for (int x = 0; x < 99; x++) image_set(&src, x, y, (rgb){(uint8_t)(x % 2 ? 255 : 0), 0, 0});
    REQUIRE_OK(image_resize(&src, 32, 32, &dst));
    p = image_get(&dst, 16, 16);
    CHECK(p.r > 100 && p.r < 155, "a stripe pattern averages to grey, not aliased: %d", p.r);
    image_free(&src);
    image_free(&dst);
}

static void test_font(void)
{
    image img;
    REQUIRE_OK(image_create(&img, 40, 30, COLOUR_WHITE));
    CHECK(text_width("abc", 2) == 36 && text_height(2) == 20, "metrics");
    draw_text(&img, 1, 1, "|", COLOUR_BLACK, 2);
    /* the misc-fixed '|' is a vertical bar in column 2, rows 1..8 */
    int dark = 0;
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++) dark += image_get(&img, x, y).r == 0;
    CHECK(dark > 0 && dark % 4 == 0, "scaled glyph pixels come in 2x2 blocks: %d", dark);
    CHECK(image_get(&img, 1 + 2 * 2, 1 + 2 * 4).r == 0, "bar pixel set");
    image_free(&img);
}

static void test_gate_grid(void)
{
    enum { COUNT = 23, E = 3 };
    static uint8_t pixels[COUNT][3072];
    gate_tile tiles[COUNT];
    uint64_t s = 12345;
    for (int i = 0; i < COUNT; i++) {
        for (int j = 0; j < 3072; j++) s = s * 6364136223846793005ull + 1442695040888963407ull, pixels[i][j] = (uint8_t)(s >> 56);
        tiles[i] = (gate_tile){.pixels = pixels[i], .label = i % 10, .pred = (i * 3) % 10,
                               .expert = i == 22 ? -1 : (i * 7) % E};
        float w0 = 0.2f + 0.03f * (float)i;
        for (int k = 0; k < E; k++) tiles[i].weights[k] = (1 - w0) / (E - 1);
        if (tiles[i].expert >= 0) tiles[i].weights[tiles[i].expert] = w0;
    }
    const char *names[10] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"};
    for (int scale = 2; scale <= 3; scale++) {
        gate_grid_spec spec = {.title = "test grid", .n_experts = E, .expert_names = {"a", "b", "c"},
                               .share = {0.3, 0.3, 0.3}, .evaluated = 100, .class_names = names,
                               .scale = scale, .columns = 5, .bars = true, .tiles = tiles, .count = COUNT};
        image img, back;
        tile_place places[COUNT];
        REQUIRE_OK(gate_grid_render(&spec, &img, places));
        REQUIRE_OK(png_write(tmp_path("grid.png"), &img));
        REQUIRE_OK(png_read(tmp_path("grid.png"), &back));
        CHECK(back.w == img.w && back.h == img.h && memcmp(back.px, img.px, (size_t)img.w * img.h * 3) == 0,
              "the PNG holds what was drawn");
        const int side = 32 * scale, F = GATE_GRID_FRAME;
        int cell_w = side + 2 * F + 10;
        int want_w = 2 * 16 + 5 * cell_w < 900 ? 900 : 2 * 16 + 5 * cell_w; /* margins, 5 columns */
        CHECK(back.w == want_w, "width %d, expected %d", back.w, want_w);
        int lowest = 0;
        for (int i = 0; i < COUNT; i++) lowest = places[i].y > lowest ? places[i].y : lowest;
        CHECK(back.h > lowest + side + 2 * 10 && back.h < lowest + side + 80,
              "height %d fits the last row of tiles and its labels (last tile at y %d)", back.h, lowest);
        int bad_pixels = 0, bad_frames = 0, bad_band = 0, overlap = 0;
        for (int i = 0; i < COUNT; i++) {
            const tile_place *p = &places[i];
            int band = tiles[i].expert < 0 ? E : tiles[i].expert;
            bad_band += p->band != band;
            /* within a band, tiles go left to right, then down; bands go down */
            if (band > 0) {
                for (int j = 0; j < COUNT; j++)
                    if ((tiles[j].expert < 0 ? E : tiles[j].expert) < band) overlap += places[j].y >= p->y;
            }
            CHECK(p->x >= 0 && p->y >= 0 && p->x + side <= back.w && p->y + side <= back.h, "tile %d inside", i);
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++) {
                    int src = (y / scale) * 32 + x / scale;
                    rgb want = {pixels[i][src], pixels[i][1024 + src], pixels[i][2048 + src]};
                    bad_pixels += !same_rgb(image_get(&back, p->x + x, p->y + y), want);
                }
            rgb frame = gate_grid_frame_colour(tiles[i].expert >= 0 ? tiles[i].weights[tiles[i].expert] : 0);
            int probes[4][2] = {{p->x - 1, p->y - 1}, {p->x - F, p->y + side / 2},
                                {p->x + side, p->y + side + F - 1}, {p->x + side / 2, p->y - F}};
            for (int q = 0; q < 4; q++) bad_frames += !same_rgb(image_get(&back, probes[q][0], probes[q][1]), frame);
        }
        CHECK(bad_band == 0, "%d tiles in the wrong band", bad_band);
        CHECK(overlap == 0, "%d tiles above an earlier band", overlap);
        CHECK(bad_pixels == 0, "scale %d: %d tile pixels differ from the source scaled", scale, bad_pixels);
        CHECK(bad_frames == 0, "scale %d: %d frame probes not the weight's colour", scale, bad_frames);
        /* neighbours in a band sit one cell apart */
        int a = -1, b = -1;
        for (int i = 0; i < COUNT && b < 0; i++)
            if (tiles[i].expert == 0) {
                if (a < 0) a = i;
                else b = i;
            }
        CHECK(a >= 0 && b >= 0 && places[b].x - places[a].x == cell_w && places[b].y == places[a].y,
              "second tile of a band one cell to the right");
        image_free(&img);
        image_free(&back);
    }
    CHECK(!same_rgb(gate_grid_frame_colour(0.1), gate_grid_frame_colour(0.9)), "weights differ in colour");
}

static void test_heatmap(void)
{
    const char *rows[3] = {"r0", "r1", "r2"}, *cols[4] = {"x", "y", "z", "w"};
    int counts[12] = {5, 0, 0, 5, 1, 1, 1, 1, 0, 0, 0, 9};
    heatmap_spec h = {.title = "heat", .subtitle = "sub", .row_title = "rows", .col_title = "cols",
                      .row_names = rows, .col_names = cols, .rows = 3, .cols = 4, .counts = counts,
                      .mark_diagonal = false};
    image img;
    heatmap_layout L;
    REQUIRE_OK(heatmap_render(&h, &img, &L));
    REQUIRE_OK(png_write(tmp_path("heat.png"), &img));
    image_free(&img);
    REQUIRE_OK(png_read(tmp_path("heat.png"), &img));
    int bad = 0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) {
            int total = 0;
            for (int k = 0; k < 4; k++) total += counts[r * 4 + k];
            rgb want = heatmap_colour((double)counts[r * 4 + c] / total);
            /* a corner of the cell, clear of the centred text */
            bad += !same_rgb(image_get(&img, L.x0 + c * L.cell_w + 3, L.y0 + r * L.cell_h + 3), want);
        }
    CHECK(bad == 0, "%d cells not shaded by their share of the row", bad);
    CHECK(same_rgb(image_get(&img, L.x0 + 3 * L.cell_w + 3, L.y0 + 2 * L.cell_h + 3), heatmap_colour(1.0)),
          "a whole row in one cell is the darkest shade");
    image_free(&img);
}

static void test_curves(void)
{
    FILE *f = fopen(tmp_path("metrics.jsonl"), "w");
    for (int s = 0; s < 2; s++)
        for (int e = 1; e <= 4; e++)
            fprintf(f, "{\"stage\": \"%s\", \"epoch\": %d, \"train_loss\": %.3f, \"train_accuracy\": %.3f, "
                       "\"val_loss\": %.3f, \"val_accuracy\": %.3f}\n", s ? "gate" : "baseline", e,
                    2.0 / e, 0.2 * e, 2.2 / e, 0.18 * e);
    fclose(f);
    REQUIRE_OK(curves_png(tmp_path("metrics.jsonl"), "curves", tmp_path("curves.png")));
    image img;
    REQUIRE_OK(png_read(tmp_path("curves.png"), &img));
    CHECK(img.w == 1120 && img.h == 44 + 2 * 340, "two stages, two rows: %dx%d", img.w, img.h);
    /* both series in each of the four charts */
    int found[4][2] = {{0}};
    rgb train = colour_expert(0), val = colour_expert(1);
    for (int y = 44; y < img.h; y++)
        for (int x = 0; x < img.w; x++) {
            int panel = ((y - 44) / 340) * 2 + x / 560;
            rgb p = image_get(&img, x, y);
            found[panel][0] += same_rgb(p, train);
            found[panel][1] += same_rgb(p, val);
        }
    for (int p = 0; p < 4; p++)
        CHECK(found[p][0] > 100 && found[p][1] > 100, "chart %d has both lines (%d, %d px)", p, found[p][0], found[p][1]);
    image_free(&img);
    f = fopen(tmp_path("bad.jsonl"), "w");
    fputs("{\"epoch\": 1}\nnot json\n", f);
    fclose(f);
    CHECK(curves_png(tmp_path("bad.jsonl"), "x", tmp_path("bad.png")) != MOECL_OK, "malformed metrics refused");
    CHECK(strstr(moecl_last_error(), "bad.jsonl") && strstr(moecl_last_error(), "line 2"), "%s", moecl_last_error());
    CHECK(chart_tick_step(0, 1, 5) == 0.2 && chart_tick_step(0, 10, 5) == 2 && chart_tick_step(1, 36, 8) == 5,
          "nice tick steps");
}

/* The top-left corner of the first solid size x size square of colour c
 * (a scatter marker; legend swatches are smaller), or false. */
static bool find_square(const image *img, rgb c, int size, int *fx, int *fy)
{
    for (int y = 0; y + size <= img->h; y++)
        for (int x = 0; x + size <= img->w; x++) {
            bool all = true;
            for (int j = 0; j < size && all; j++)
                for (int i = 0; i < size && all; i++) all = same_rgb(image_get(img, x + i, y + j), c);
            if (all) {
                *fx = x, *fy = y;
                return true;
            }
        }
    return false;
}

/* moecl report --png: every run a marker of its own colour, placed by
 * minutes (from 0) and accuracy: a run that took longer is further right. */
static void test_result_chart(void)
{
    result_point runs[3] = {{"switch", 30, 0.70}, {"vgg, baseline", 95, 0.78}, {"hier", 400, 0.76}};
    REQUIRE_OK(result_chart_png(tmp_path("report.png"), runs, 3));
    image img;
    REQUIRE_OK(png_read(tmp_path("report.png"), &img));
    int x[3] = {0}, y[3] = {0};
    bool found[3];
    for (int k = 0; k < 3; k++) {
        found[k] = find_square(&img, colour_expert(k), 11, &x[k], &y[k]);
        CHECK(found[k], "run %d has its 11-pixel marker", k);
    }
    if (found[0] && found[1] && found[2]) {
        CHECK(x[0] < x[1] && x[1] < x[2], "longer runs further right (%d, %d, %d)", x[0], x[1], x[2]);
        CHECK(y[1] < y[2] && y[2] < y[0], "more accurate runs higher (%d, %d, %d)", y[0], y[1], y[2]);
        CHECK(x[2] + 11 < img.w - 8, "the last marker inside the plot (x %d of %d)", x[2], img.w);
        /* 0 minutes is the axis' start: 30 minutes sits clear of the plot's
         * left frame (a vertical line of 100+ text-coloured pixels) */
        int frame = -1;
        for (int fx = 0; fx < img.w && frame < 0; fx++) {
            int run = 0;
            for (int fy = 0; fy < img.h; fy++)
                run = same_rgb(image_get(&img, fx, fy), COLOUR_TEXT) ? run + 1 : run > 100 ? run : 0;
            if (run > 100) frame = fx;
        }
        CHECK(frame > 0 && x[0] - frame > 20, "the x axis starts at 0 (frame at x %d, switch at %d)",
              frame, x[0]);
    }
    image_free(&img);
    CHECK(result_chart_png(tmp_path("none.png"), runs, 0) != MOECL_OK, "no runs: an error");
    CHECK(result_chart_png("/nonexistent-dir/r.png", runs, 1) != MOECL_OK &&
              strstr(moecl_last_error(), "/nonexistent-dir/r.png"),
          "an unwritable path is named: %s", moecl_last_error());
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/moecl-test-pictures-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_round_trip();
    test_colour_types();
    test_bad_files();
    test_resize();
    test_font();
    test_gate_grid();
    test_heatmap();
    test_curves();
    test_result_chart();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_pictures");
}
