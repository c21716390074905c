/* Colour scales as piecewise-linear interpolation between anchors taken
 * from matplotlib's viridis and ColorBrewer's Blues. */
#include "colours.h"

#include <math.h>

static rgb lerp_anchors(const rgb *a, int n, double t)
{
    if (!(t > 0)) t = 0; /* NaN too */
    if (t > 1) t = 1;
    double pos = t * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return a[n - 1];
    double f = pos - i;
    return (rgb){(uint8_t)lround(a[i].r + f * (a[i + 1].r - a[i].r)),
                 (uint8_t)lround(a[i].g + f * (a[i + 1].g - a[i].g)),
                 (uint8_t)lround(a[i].b + f * (a[i + 1].b - a[i].b))};
}

rgb colour_viridis(double t)
{
    static const rgb a[] = {{68, 1, 84},    {72, 40, 120},  {62, 74, 137},  {49, 104, 142},
                            {38, 130, 142}, {31, 158, 137}, {53, 183, 121}, {110, 206, 88},
                            {181, 222, 43}, {253, 231, 37}};
    return lerp_anchors(a, (int)(sizeof a / sizeof a[0]), t);
}

rgb colour_blues(double t)
{
    static const rgb a[] = {{247, 251, 255}, {222, 235, 247}, {198, 219, 239}, {158, 202, 225},
                            {107, 174, 214}, {66, 146, 198},  {33, 113, 181},  {8, 81, 156},
                            {8, 48, 107}};
    return lerp_anchors(a, (int)(sizeof a / sizeof a[0]), t);
}

rgb colour_expert(int k)
{
    static const rgb a[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                            {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                            {188, 189, 34},  {23, 190, 207}};
    return a[(k < 0 ? 0 : k) % 10];
}

rgb colour_text_on(rgb c)
{
    double luma = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
    return luma > 140 ? COLOUR_BLACK : COLOUR_WHITE;
}
