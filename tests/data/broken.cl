/* Deliberately broken: used by tests/cli/build_error.sh. */
__kernel void broken(__global float *x)
{
    x[get_global_id(0)] = this_name_is_not_declared + 1.0f;
}
