/* Data-parallel training over ranks (engine/dist.c): threads of one
 * process, one per device (`moecl --device 0,1 train`), or processes
 * (`mpirun -np N moecl train`). Each rank trains on its share of every
 * global batch, the gradients are summed across ranks in one call per
 * step, and every rank takes the same optimiser step. With one device and
 * no mpirun there is one rank and every call here is a no-op. */
#ifndef MOECL_DIST_H
#define MOECL_DIST_H

#include "moecl.h"

/* Ranks as threads: dist_threads_start(size) before the threads run, each
 * thread calls dist_threads_join_rank(its rank) first; stop after joining
 * them. */
#define DIST_MAX_THREADS 16
moecl_status dist_threads_start(int size);
void dist_threads_join_rank(int rank);
void dist_threads_stop(void);

/* Starts MPI when this process was launched by mpirun (Open MPI's
 * environment says so); a build without MPI launched by mpirun with more
 * than one process is an error that says so. */
moecl_status dist_init(int *argc, char ***argv);
void dist_finalize(void);
/* Whether this process started MPI (sanitizer builds skip their leak check
 * then: Open MPI unloads its plugins at MPI_Finalize and leaves blocks
 * LeakSanitizer cannot attribute to any library; the same code paths run
 * leak-checked in one process). */
bool dist_used(void);
int dist_rank(void);
int dist_size(void);
/* This rank's place among the ranks on its host (picks its device). */
int dist_local_rank(void);
/* Sums n floats across ranks, in place (every rank gets the sum). */
moecl_status dist_sum(float *values, size_t n);
/* Rank 0's n floats (or bytes) to every rank. */
moecl_status dist_broadcast(float *values, size_t n);
moecl_status dist_broadcast_bytes(void *bytes, size_t n);
/* Every rank's n_each floats, in rank order, into all (size * n_each). */
moecl_status dist_allgather(const float *mine, float *all, size_t n_each);
/* Each rank sends send_n[r] floats to rank r (packed in rank order in
 * send) and receives recv_n[r] from rank r (packed likewise in recv): the
 * all-to-all of routed rows (expert parallelism across ranks). */
moecl_status dist_alltoall(const float *send, const size_t *send_n, float *recv,
                           const size_t *recv_n);
/* Stops every rank (a rank that cannot go on alone). */
void dist_abort(int code);

#endif
