/* Element-wise tensor kernels. Every kernel takes its element count and
 * guards its index, so launches may round the global size up. fill and copy
 * are streaming (cl/lib/stream.cl): a chunk of elements per work item. */

__kernel void fill_f32(__global float *x, const float value, const uint n)
{
    const uint i0 = (uint)get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        vstore16((float16)(value), 0, x + i0);
        return;
    }
    for (uint i = i0; i < n; i++) x[i] = value;
}

__kernel void copy_f32(__global const float *src, __global float *dst, const uint n)
{
    const uint i0 = (uint)get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        vstore16(vload16(0, src + i0), 0, dst + i0);
        return;
    }
    for (uint i = i0; i < n; i++) dst[i] = src[i];
}

/* y = alpha * x + y */
__kernel void axpy_f32(const float alpha, __global const float *x, __global float *y,
                       const uint n)
{
    const uint i = get_global_id(0);
    if (i < n) y[i] = mad(alpha, x[i], y[i]);
}

__kernel void scale_f32(__global float *x, const float alpha, const uint n)
{
    const uint i = get_global_id(0);
    if (i < n) x[i] *= alpha;
}

/* dst[dst_offset + i] = src[src_offset + i] for i < n (slices of buffers). */
__kernel void copy_range_f32(__global const float *src, const uint src_offset,
                             __global float *dst, const uint dst_offset, const uint n)
{
    const uint i = get_global_id(0);
    if (i < n) dst[dst_offset + i] = src[src_offset + i];
}
