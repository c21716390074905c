/* Counter-based random numbers, shared by every program (context.c puts
 * the cl/lib sources in front of each kernel file): the same (seed, step,
 * index) gives the same number on every device, with no state to carry. */

uint rng_hash(uint x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* uniform in [0, 1) */
float rng_uniform(uint seed, uint step, uint index)
{
    const uint h = rng_hash(seed ^ rng_hash(step * 0x9e3779b9U ^ rng_hash(index + 0x632be5abU)));
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

/* standard normal (Box-Muller on two hashed uniforms) */
float rng_normal(uint seed, uint step, uint index)
{
    const uint a = rng_hash(seed ^ rng_hash(step * 0x9e3779b9U ^ rng_hash(2 * index + 1)));
    const uint b = rng_hash(a ^ 0x68bc21ebU);
    const float u1 = ((float)(a >> 8) + 0.5f) * (1.0f / 16777216.0f);
    const float u2 = (float)(b >> 8) * (1.0f / 16777216.0f);
    return sqrt(-2.0f * log(u1)) * cos(6.28318530718f * u2);
}
