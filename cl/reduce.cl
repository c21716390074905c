/* Reductions and bias helpers shared by the layers. Work-groups of
 * REDUCE_WG items reduce one row each in local memory. */
#define REDUCE_WG 64

/* out[r] = beta * out[r] + sum_j m[r * cols + j] (one work-group per row). */
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void row_sum_f32(__global const float *m, __global float *out, const int rows, const int cols,
                 const float beta)
{
    __local float part[REDUCE_WG];
    const int r = get_group_id(0);
    const int lid = get_local_id(0);
    float s = 0.0f;
    if (r < rows)
        for (int j = lid; j < cols; j += REDUCE_WG) s += m[(size_t)r * cols + j];
    part[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (lid < s) part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && r < rows) out[r] = (beta == 0.0f ? 0.0f : beta * out[r]) + part[0];
}

/* out[j] = sum_r m[r * cols + j] (one work item per column). */
__kernel void col_sum_f32(__global const float *m, __global float *out, const int rows,
                          const int cols)
{
    const int j = get_global_id(0);
    if (j >= cols) return;
    float s = 0.0f;
    for (int r = 0; r < rows; r++) s += m[(size_t)r * cols + j];
    out[j] = s;
}

/* y[r, j] += bias[j] */
__kernel void add_row_bias_f32(__global float *y, __global const float *bias, const int rows,
                               const int cols)
{
    const int gid = get_global_id(0);
    if (gid >= rows * cols) return;
    y[gid] += bias[gid % cols];
}

/* Per-channel sums over [B, C, P]: sum[c] = sum x, sum2[c] = sum x*y
 * (y may equal x for a sum of squares). One work-group per channel. */
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void channel_sums_f32(__global const float *x, __global const float *y, __global float *sum,
                      __global float *sum_xy, const int B, const int C, const int P)
{
    __local float s1[REDUCE_WG], s2[REDUCE_WG];
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    float a = 0.0f, b = 0.0f;
    if (c < C)
        for (int k = lid; k < B * P; k += REDUCE_WG) {
            const size_t idx = ((size_t)(k / P) * C + c) * P + k % P;
            a += x[idx];
            b += x[idx] * y[idx];
        }
    s1[lid] = a;
    s2[lid] = b;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (lid < s) {
            s1[lid] += s1[lid + s];
            s2[lid] += s2[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && c < C) {
        sum[c] = s1[0];
        sum_xy[c] = s2[0];
    }
}

/* out[i] = sum over p of parts[p * count + i]: the reduction after a
 * split-K GEMM. */
__kernel void sum_parts_f32(__global const float *parts, __global float *out, const int count,
                            const int n_parts)
{
    const int i = get_global_id(0);
    if (i >= count) return;
    float s = 0.0f;
    for (int p = 0; p < n_parts; p++) s += parts[(size_t)p * count + i];
    out[i] = s;
}

/* out[c] = sum over images and pixels of x[b, c, p] ([B, C, P]): a
 * convolution's bias gradient straight from NCHW. One work-group per
 * channel; the loops need no division. */
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void channel_sum_f32(__global const float *x, __global float *out, const int B, const int C,
                     const int P)
{
    __local float part[REDUCE_WG];
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    float s = 0.0f;
    if (c < C)
        for (int b = 0; b < B; b++) {
            __global const float *row = x + ((size_t)b * C + c) * P;
            for (int p = lid; p < P; p += REDUCE_WG) s += row[p];
        }
    part[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (lid < s) part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && c < C) out[c] = part[0];
}

/* channel_sum_f32 shaped for a CPU driver: a work item per channel adds its
 * B rows of P floats into a float16 (a CPU runs a work-group's items as a
 * loop, so the group-per-channel form above gets no vectors there). */
__kernel void channel_sum_rows_f32(__global const float *x, __global float *out, const int B,
                                   const int C, const int P)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    float16 acc = (float16)(0.0f);
    float s = 0.0f;
    for (int b = 0; b < B; b++) {
        __global const float *row = x + ((size_t)b * C + c) * P;
        int p = 0;
        for (; p + 16 <= P; p += 16) acc += vload16(0, row + p);
        for (; p < P; p++) s += row[p];
    }
    const float8 h8 = acc.lo + acc.hi;
    const float4 h4 = h8.lo + h8.hi;
    const float2 h2 = h4.lo + h4.hi;
    out[c] = s + h2.x + h2.y;
}

