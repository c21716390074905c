/* Max pooling (any window and stride, 'valid' or 'same') and global
 * average pooling, NCHW. Max pooling keeps the index of each maximum. */
#include "../internal.h"
#include "../layer.h"

#define ARGS_GEOMETRY(l, n)                                                            \
    MOECL_ARG_INT(n), MOECL_ARG_INT((l)->in.c), MOECL_ARG_INT((l)->in.h),              \
        MOECL_ARG_INT((l)->in.w), MOECL_ARG_INT((l)->cfg.kh), MOECL_ARG_INT((l)->cfg.kw), \
        MOECL_ARG_INT((l)->cfg.sh), MOECL_ARG_INT((l)->cfg.sw), MOECL_ARG_INT((l)->cfg.ph), \
        MOECL_ARG_INT((l)->cfg.pw), MOECL_ARG_INT((l)->out.h), MOECL_ARG_INT((l)->out.w)

static moecl_status maxpool_setup(layer *l, moecl_ctx *ctx)
{
    (void)ctx;
    layer_config *c = &l->cfg;
    l->out.c = l->in.c;
    l->out.h = layer_window_out(l->in.h, c->kh, c->sh, c->same, &c->ph);
    l->out.w = layer_window_out(l->in.w, c->kw, c->sw, c->same, &c->pw);
    l->flops_per_image = shape3_size(l->out) * (size_t)c->kh * c->kw;
    /* argmax indices: ints in a float-sized buffer */
    return layer_add_scratch(l, 0, (size_t)l->batch * shape3_size(l->out));
}

/* 2x2 windows at stride 2 without padding (an odd size's last row or
 * column left out): the straight-line kernels. */
static bool maxpool_is_2x2_tiling(const layer *l)
{
    const layer_config *c = &l->cfg;
    return c->kh == 2 && c->kw == 2 && c->sh == 2 && c->sw == 2 && c->ph == 0 && c->pw == 0 &&
           l->in.h / 2 == l->out.h && l->in.w / 2 == l->out.w;
}

/* The 2x2 kernels take a work item per output row, in small groups where
 * kernels are shaped for a CPU (as streaming kernels, engine/launch.c). */
#define ROWS_2X2(l, n) ((size_t)(n) * (l)->out.c * (l)->out.h)
#define LOCAL_2X2(l) ((l)->ctx->cpu_shaped ? 16 : 0)
#define ARGS_2X2(l, n)                                                                         \
    MOECL_ARG_INT(ROWS_2X2(l, n)), MOECL_ARG_INT((l)->out.h), MOECL_ARG_INT((l)->out.w),         \
        MOECL_ARG_INT((l)->in.h), MOECL_ARG_INT((l)->in.w)

static moecl_status maxpool_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    if (maxpool_is_2x2_tiling(l))
        return MOECL_LAUNCH(l->ctx, "maxpool2x2_forward_f32", ROWS_2X2(l, n), LOCAL_2X2(l),
                            MOECL_ARG_MEM(x->buf), MOECL_ARG_MEM(l->output->buf),
                            MOECL_ARG_MEM(l->scratch[0]->buf), ARGS_2X2(l, n));
    return MOECL_LAUNCH_3D(l->ctx, "maxpool_forward_f32", (size_t)l->out.w,
                           (size_t)l->out.c * l->out.h, (size_t)n, MOECL_ARG_MEM(x->buf),
                           MOECL_ARG_MEM(l->output->buf), MOECL_ARG_MEM(l->scratch[0]->buf),
                           ARGS_GEOMETRY(l, n));
}

static moecl_status maxpool_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                     int n, bool need_dx)
{
    (void)x;
    if (!need_dx) return MOECL_OK;
    if (maxpool_is_2x2_tiling(l))
        return MOECL_LAUNCH(l->ctx, "maxpool2x2_backward_f32", ROWS_2X2(l, n), LOCAL_2X2(l),
                            MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(l->scratch[0]->buf),
                            MOECL_ARG_MEM(l->grad_input->buf), ARGS_2X2(l, n));
    return MOECL_LAUNCH_3D(l->ctx, "maxpool_backward_f32", (size_t)l->in.w,
                           (size_t)l->in.c * l->in.h, (size_t)n, MOECL_ARG_MEM(dy->buf),
                           MOECL_ARG_MEM(l->scratch[0]->buf), MOECL_ARG_MEM(l->grad_input->buf),
                           ARGS_GEOMETRY(l, n));
}

static const layer_ops MAXPOOL_OPS = {maxpool_setup, maxpool_forward, maxpool_backward};

layer *layer_maxpool(const char *name, int kh, int kw, int sh, int sw, bool same)
{
    layer *l = layer_new(LAYER_MAXPOOL, name, &MAXPOOL_OPS);
    if (!l) return NULL;
    l->cfg.kh = kh, l->cfg.kw = kw, l->cfg.sh = sh, l->cfg.sw = sw;
    l->cfg.same = same;
    return l;
}

static moecl_status gap_setup(layer *l, moecl_ctx *ctx)
{
    (void)ctx;
    l->out = (shape3){l->in.c, 1, 1};
    l->flops_per_image = shape3_size(l->in);
    return MOECL_OK;
}

static moecl_status gap_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    int bc = n * l->in.c;
    return MOECL_LAUNCH(l->ctx, "global_avgpool_forward_f32", (size_t)bc, 0,
                        MOECL_ARG_MEM(x->buf), MOECL_ARG_MEM(l->output->buf), MOECL_ARG_INT(bc),
                        MOECL_ARG_INT(l->in.h * l->in.w));
}

static moecl_status gap_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                 bool need_dx)
{
    (void)x;
    if (!need_dx) return MOECL_OK;
    int bc = n * l->in.c, p = l->in.h * l->in.w;
    return MOECL_LAUNCH(l->ctx, "global_avgpool_backward_f32", (size_t)bc * (size_t)p, 0,
                        MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(l->grad_input->buf),
                        MOECL_ARG_INT(bc), MOECL_ARG_INT(p));
}

static const layer_ops GAP_OPS = {gap_setup, gap_forward, gap_backward};

layer *layer_global_avgpool(const char *name)
{
    return layer_new(LAYER_GLOBAL_AVGPOOL, name, &GAP_OPS);
}
