/* MPI behind the calls of dist.h; one rank when built without it. */
#include "dist.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#ifdef MOECL_HAVE_MPI
#include <mpi.h>

static bool started, used;

bool dist_used(void) { return used; }

moecl_status dist_init(int *argc, char ***argv)
{
    /* Only under mpirun: a plain run neither needs nor pays for MPI. */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
        return MOECL_OK;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "MPI_Init failed");
    /* errors come back as codes, reported by the rank that saw them */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    started = used = true;
    return MOECL_OK;
}

void dist_finalize(void)
{
    if (started) MPI_Finalize();
    started = false;
}

int dist_rank(void)
{
    int r = 0;
    if (started) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int dist_size(void)
{
    int n = 1;
    if (started) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

int dist_local_rank(void)
{
    const char *s = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    return started && s ? atoi(s) : 0;
}

static moecl_status mpi_check(int err, const char *what)
{
    if (err == MPI_SUCCESS) return MOECL_OK;
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(err, text, &len);
    return moecl_fail(MOECL_ERR_OPENCL, "%s failed on rank %d: %s", what, dist_rank(), text);
}

moecl_status dist_sum(float *values, size_t n)
{
    if (!started || dist_size() == 1) return MOECL_OK;
    if (n > (size_t)2147483647)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%zu floats to sum across ranks", n);
    return mpi_check(MPI_Allreduce(MPI_IN_PLACE, values, (int)n, MPI_FLOAT, MPI_SUM,
                                   MPI_COMM_WORLD), "MPI_Allreduce");
}

moecl_status dist_broadcast(float *values, size_t n)
{
    if (!started || dist_size() == 1) return MOECL_OK;
    if (n > (size_t)2147483647)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%zu floats to broadcast", n);
    return mpi_check(MPI_Bcast(values, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

moecl_status dist_broadcast_bytes(void *bytes, size_t n)
{
    if (!started || dist_size() == 1) return MOECL_OK;
    if (n > (size_t)2147483647)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%zu bytes to broadcast", n);
    return mpi_check(MPI_Bcast(bytes, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

void dist_abort(int code)
{
    if (started) MPI_Abort(MPI_COMM_WORLD, code);
}

#else /* built without MPI */

moecl_status dist_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (size && atoi(size) > 1)
        return moecl_fail(MOECL_ERR_INVALID_ARG,
                          "moecl was built without MPI, so %s processes under mpirun would each "
                          "train alone: install libopenmpi-dev (scripts/setup.sh) and build again",
                          size);
    return MOECL_OK;
}
void dist_finalize(void) {}
bool dist_used(void) { return false; }
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_local_rank(void) { return 0; }
moecl_status dist_sum(float *values, size_t n)
{
    (void)values, (void)n;
    return MOECL_OK;
}
moecl_status dist_broadcast(float *values, size_t n)
{
    (void)values, (void)n;
    return MOECL_OK;
}
moecl_status dist_broadcast_bytes(void *bytes, size_t n)
{
    (void)bytes, (void)n;
    return MOECL_OK;
}
void dist_abort(int code) { (void)code; }

#endif
