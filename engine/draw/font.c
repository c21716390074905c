/* Text in the built-in bitmap font (X11 misc-fixed 6x10, public domain;
 * see font_data.h): every picture reads the same on every machine. */
#include "image.h"

#include <string.h>

#include "font_data.h"

static const unsigned char *glyph(char ch)
{
    unsigned char u = (unsigned char)ch;
    if (u < FONT_FIRST || u > FONT_LAST) u = '?';
    return font_rows[u - FONT_FIRST];
}

int text_width(const char *s, int scale) { return (int)strlen(s) * FONT_WIDTH * scale; }
int text_height(int scale) { return FONT_HEIGHT * scale; }

void draw_text(image *img, int x, int y, const char *s, rgb c, int scale)
{
    for (; *s; s++, x += FONT_WIDTH * scale) {
        const unsigned char *g = glyph(*s);
        for (int r = 0; r < FONT_HEIGHT; r++)
            for (int q = 0; q < FONT_WIDTH; q++)
                if (g[r] & (0x80 >> q)) image_fill(img, x + q * scale, y + r * scale, scale, scale, c);
    }
}

void draw_text_right(image *img, int x, int y, const char *s, rgb c, int scale)
{
    draw_text(img, x - text_width(s, scale), y, s, c, scale);
}

void draw_text_centred(image *img, int x, int y, const char *s, rgb c, int scale)
{
    draw_text(img, x - text_width(s, scale) / 2, y, s, c, scale);
}

void draw_text_vertical(image *img, int x, int y, const char *s, rgb c, int scale)
{
    int len = text_width(s, scale);
    int bx = x - text_height(scale) / 2, by = y + len / 2; /* bottom of the first character */
    for (int i = 0; s[i]; i++) {
        const unsigned char *g = glyph(s[i]);
        for (int r = 0; r < FONT_HEIGHT; r++)
            for (int q = 0; q < FONT_WIDTH; q++)
                if (g[r] & (0x80 >> q)) /* (q, r) -> (r, -q) */
                    image_fill(img, bx + r * scale, by - (i * FONT_WIDTH + q + 1) * scale, scale,
                               scale, c);
    }
}
