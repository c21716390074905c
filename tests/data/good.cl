/* A valid kernel: used by tests/cli/build_error.sh. */
__kernel void doubled(__global float *x)
{
    x[get_global_id(0)] *= 2.0f;
}
