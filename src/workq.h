/*
 * workq - a small pool of worker threads for blocking disk work.
 *
 * The event loop never blocks on fsync: Maildir writes and spool commits run
 * here, and the job's completion callback runs back on the event loop
 * thread (libevent's thread-safe event_active wakes the loop).  A job is
 * run exactly once and its done callback is called exactly once, even at
 * shutdown (workq_free waits for queued jobs).
 *
 * Callers: smtp_server (end of DATA), the delivery engine.
 */
#ifndef CLEANBOX_WORKQ_H
#define CLEANBOX_WORKQ_H

struct event_base;
struct workq;

typedef void (*workq_fn)(void *arg);

/* Needs evthread_use_pthreads() before base was created. */
struct workq *workq_new(struct event_base *base, unsigned nthreads);
/* Stop accepting jobs, run what is queued, join threads. */
void	workq_free(struct workq *wq);
/*
 * Run work(arg) on a worker thread, then done(arg) on the loop thread.
 * Returns 0, or -1 (out of memory, or the pool is stopping) without
 * calling either.
 */
int	workq_submit(struct workq *wq, workq_fn work, workq_fn done, void *arg);

#endif
