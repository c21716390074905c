/* The ranks of dist.h: threads of this process, one per device (--device
 * 0,1), or MPI processes (mpirun); one rank otherwise. */
#include "dist.h"
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef MOECL_HAVE_MPI
#include <mpi.h>
#endif

/* ---- ranks as threads ------------------------------------------------------
 * Collectives meet at a barrier: every rank publishes its buffer, rank 0
 * combines or copies, the others take the result. */
static struct {
    int size;
    pthread_barrier_t barrier;
    void *bufs[DIST_MAX_THREADS];
} group;
static _Thread_local int thread_rank = -1;

moecl_status dist_threads_start(int size)
{
    if (size < 1 || size > DIST_MAX_THREADS)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%d devices: between 1 and %d", size,
                          DIST_MAX_THREADS);
    if (pthread_barrier_init(&group.barrier, NULL, (unsigned)size) != 0)
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "cannot make a barrier for %d threads", size);
    group.size = size;
    return MOECL_OK;
}

void dist_threads_join_rank(int rank) { thread_rank = rank; }

void dist_threads_stop(void)
{
    if (group.size) pthread_barrier_destroy(&group.barrier);
    group.size = 0;
}

static bool in_threads(void) { return group.size > 1 && thread_rank >= 0; }

static void meet(void) { pthread_barrier_wait(&group.barrier); }

static void threads_sum(float *values, size_t n)
{
    group.bufs[thread_rank] = values;
    meet();
    if (thread_rank == 0)
        for (int r = 1; r < group.size; r++) {
            const float *other = group.bufs[r];
            for (size_t i = 0; i < n; i++) values[i] += other[i];
        }
    meet();
    if (thread_rank != 0) memcpy(values, group.bufs[0], n * sizeof *values);
    meet(); /* rank 0's buffer is read until here */
}

static void threads_allgather(const float *mine, float *all, size_t n_each)
{
    group.bufs[thread_rank] = (void *)mine;
    meet();
    for (int r = 0; r < group.size; r++)
        memcpy(all + (size_t)r * n_each, group.bufs[r], n_each * sizeof *all);
    meet(); /* every buffer is read until here */
}

/* Each rank publishes its send buffer and counts; each takes its block
 * from every other's (the block's place: the counts before it). */
static const size_t *published_n[DIST_MAX_THREADS];

static void threads_alltoall(const float *send, const size_t *send_n, float *recv,
                             const size_t *recv_n)
{
    group.bufs[thread_rank] = (void *)send;
    published_n[thread_rank] = send_n;
    meet();
    size_t at = 0;
    for (int q = 0; q < group.size; q++) {
        size_t from = 0;
        for (int d = 0; d < thread_rank; d++) from += published_n[q][d];
        memcpy(recv + at, (const float *)group.bufs[q] + from, recv_n[q] * sizeof *recv);
        at += recv_n[q];
    }
    meet();
}

static void threads_broadcast(void *bytes, size_t n)
{
    if (thread_rank == 0) group.bufs[0] = bytes;
    meet();
    if (thread_rank != 0) memcpy(bytes, group.bufs[0], n);
    meet();
}

/* ---- ranks as MPI processes ------------------------------------------------ */
#ifdef MOECL_HAVE_MPI
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

static int mpi_rank(void)
{
    int r = 0;
    if (started) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

static int mpi_size(void)
{
    int n = 1;
    if (started) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

static moecl_status mpi_check(int err, const char *what)
{
    if (err == MPI_SUCCESS) return MOECL_OK;
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(err, text, &len);
    return moecl_fail(MOECL_ERR_OPENCL, "%s failed on rank %d: %s", what, mpi_rank(), text);
}

static moecl_status mpi_sum(float *values, size_t n)
{
    return mpi_check(MPI_Allreduce(MPI_IN_PLACE, values, (int)n, MPI_FLOAT, MPI_SUM,
                                   MPI_COMM_WORLD), "MPI_Allreduce");
}

static moecl_status mpi_broadcast(void *bytes, size_t n)
{
    return mpi_check(MPI_Bcast(bytes, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

static moecl_status mpi_allgather(const float *mine, float *all, size_t n_each)
{
    return mpi_check(MPI_Allgather(mine, (int)n_each, MPI_FLOAT, all, (int)n_each, MPI_FLOAT,
                                   MPI_COMM_WORLD), "MPI_Allgather");
}

/* MPI counts are ints: the sizes are checked by dist_alltoall. */
static moecl_status mpi_alltoall(const float *send, const size_t *send_n, float *recv,
                                 const size_t *recv_n)
{
    int size = mpi_size();
    int *c = malloc(4 * (size_t)size * sizeof *c);
    if (!c) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    int *sc = c, *sd = c + size, *rc = c + 2 * size, *rd = c + 3 * size;
    for (int r = 0, s_at = 0, r_at = 0; r < size; r++) {
        sc[r] = (int)send_n[r], sd[r] = s_at, s_at += sc[r];
        rc[r] = (int)recv_n[r], rd[r] = r_at, r_at += rc[r];
    }
    moecl_status st = mpi_check(MPI_Alltoallv(send, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT,
                                              MPI_COMM_WORLD), "MPI_Alltoallv");
    free(c);
    return st;
}

static void mpi_abort(int code)
{
    if (started) MPI_Abort(MPI_COMM_WORLD, code);
}

int dist_local_rank(void)
{
    const char *s = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    return started && s ? atoi(s) : 0;
}

#else /* built without MPI: the MPI side is one rank */

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
static int mpi_rank(void) { return 0; }
static int mpi_size(void) { return 1; }
static moecl_status mpi_sum(float *values, size_t n)
{
    (void)values, (void)n;
    return MOECL_OK;
}
static moecl_status mpi_broadcast(void *bytes, size_t n)
{
    (void)bytes, (void)n;
    return MOECL_OK;
}
static moecl_status mpi_allgather(const float *mine, float *all, size_t n_each)
{
    memcpy(all, mine, n_each * sizeof *all);
    return MOECL_OK;
}
static moecl_status mpi_alltoall(const float *send, const size_t *send_n, float *recv,
                                 const size_t *recv_n)
{
    (void)send_n;
    memcpy(recv, send, recv_n[0] * sizeof *recv);
    return MOECL_OK;
}
static void mpi_abort(int code) { (void)code; }
int dist_local_rank(void) { return 0; }

#endif

/* ---- the calls, whichever the ranks are ------------------------------------ */

int dist_rank(void) { return in_threads() ? thread_rank : mpi_rank(); }

int dist_size(void) { return in_threads() ? group.size : mpi_size(); }

moecl_status dist_sum(float *values, size_t n)
{
    if (dist_size() == 1) return MOECL_OK;
    if (n > (size_t)2147483647)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%zu floats to sum across ranks", n);
    if (in_threads()) {
        threads_sum(values, n);
        return MOECL_OK;
    }
    return mpi_sum(values, n);
}

moecl_status dist_broadcast_bytes(void *bytes, size_t n)
{
    if (dist_size() == 1) return MOECL_OK;
    if (n > (size_t)2147483647)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%zu bytes to broadcast", n);
    if (in_threads()) {
        threads_broadcast(bytes, n);
        return MOECL_OK;
    }
    return mpi_broadcast(bytes, n);
}

moecl_status dist_broadcast(float *values, size_t n)
{
    return dist_broadcast_bytes(values, n * sizeof *values);
}

moecl_status dist_allgather(const float *mine, float *all, size_t n_each)
{
    if (dist_size() == 1) {
        memcpy(all, mine, n_each * sizeof *all);
        return MOECL_OK;
    }
    if (n_each > (size_t)2147483647 / (size_t)dist_size())
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%zu floats a rank to gather", n_each);
    if (in_threads()) {
        threads_allgather(mine, all, n_each);
        return MOECL_OK;
    }
    return mpi_allgather(mine, all, n_each);
}

moecl_status dist_alltoall(const float *send, const size_t *send_n, float *recv,
                           const size_t *recv_n)
{
    size_t s_total = 0, r_total = 0;
    for (int r = 0; r < dist_size(); r++) s_total += send_n[r], r_total += recv_n[r];
    if (s_total > (size_t)2147483647 || r_total > (size_t)2147483647)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%zu floats to send and %zu to receive across "
                          "ranks: more than an MPI count holds", s_total, r_total);
    if (dist_size() == 1) {
        memcpy(recv, send, recv_n[0] * sizeof *recv);
        return MOECL_OK;
    }
    if (in_threads()) {
        threads_alltoall(send, send_n, recv, recv_n);
        return MOECL_OK;
    }
    return mpi_alltoall(send, send_n, recv, recv_n);
}

void dist_abort(int code)
{
    if (in_threads()) { /* the other threads wait at a barrier: end the process */
        fflush(NULL);
        _exit(code);
    }
    mpi_abort(code);
}
