/* The device's multiply-add throughput, for `moecl bench gemm` to set its
 * figures against: each work-item runs 12 independent chains of float8
 * multiply-adds (enough chains to hide an FMA unit's latency; 12 AVX2
 * registers on a CPU). The sum is stored so that no chain can be dropped. */
__kernel void fma_peak_f32(__global float *out, const int iterations, const float a, const float b)
{
    const int id = get_global_id(0);
    float8 c0 = (float8)(id * 1e-9f), c1 = c0 + 1e-3f, c2 = c0 + 2e-3f, c3 = c0 + 3e-3f,
           c4 = c0 + 4e-3f, c5 = c0 + 5e-3f, c6 = c0 + 6e-3f, c7 = c0 + 7e-3f, c8 = c0 + 8e-3f,
           c9 = c0 + 9e-3f, c10 = c0 + 1e-2f, c11 = c0 + 1.1e-2f;
    for (int i = 0; i < iterations; i++) {
        c0 = fma(c0, a, b), c1 = fma(c1, a, b), c2 = fma(c2, a, b), c3 = fma(c3, a, b);
        c4 = fma(c4, a, b), c5 = fma(c5, a, b), c6 = fma(c6, a, b), c7 = fma(c7, a, b);
        c8 = fma(c8, a, b), c9 = fma(c9, a, b), c10 = fma(c10, a, b), c11 = fma(c11, a, b);
    }
    const float8 s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
    out[id] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7;
}
