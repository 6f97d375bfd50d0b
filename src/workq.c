/*
 * workq - worker threads for blocking disk work.  See workq.h.
 */
#include "workq.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct workq_job {
	workq_fn	 work;
	workq_fn	 done;
	void		*arg;
	struct event	*done_ev;
	struct workq_job *next;
};

struct workq {
	struct event_base *base;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct workq_job *head, *tail;
	bool		 stopping;
	unsigned	 nthreads;
	pthread_t	*threads;
};

static void
workq_job_done(evutil_socket_t fd, short what, void *arg)
{
	struct workq_job *job = arg;

	(void)fd;
	(void)what;
	event_free(job->done_ev);
	job->done(job->arg);
	free(job);
}

static void *
workq_thread_main(void *arg)
{
	struct workq *wq = arg;
	struct workq_job *job;

	for (;;) {
		pthread_mutex_lock(&wq->lock);
		while (wq->head == NULL && !wq->stopping)
			pthread_cond_wait(&wq->cond, &wq->lock);
		job = wq->head;
		if (job != NULL) {
			wq->head = job->next;
			if (wq->head == NULL)
				wq->tail = NULL;
		}
		pthread_mutex_unlock(&wq->lock);
		if (job == NULL)
			return NULL;	/* stopping and drained */
		job->work(job->arg);
		event_active(job->done_ev, 0, 0);
	}
}

struct workq *
workq_new(struct event_base *base, unsigned nthreads)
{
	struct workq *wq;
	unsigned i;

	if ((wq = calloc(1, sizeof(*wq))) == NULL)
		return NULL;
	wq->base = base;
	pthread_mutex_init(&wq->lock, NULL);
	pthread_cond_init(&wq->cond, NULL);
	if ((wq->threads = calloc(nthreads, sizeof(pthread_t))) == NULL)
		goto err;
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&wq->threads[i], NULL, workq_thread_main, wq) != 0)
			goto err;
		wq->nthreads++;
	}
	return wq;
err:
	workq_free(wq);
	return NULL;
}

void
workq_free(struct workq *wq)
{
	unsigned i;

	if (wq == NULL)
		return;
	pthread_mutex_lock(&wq->lock);
	wq->stopping = true;
	pthread_cond_broadcast(&wq->cond);
	pthread_mutex_unlock(&wq->lock);
	for (i = 0; i < wq->nthreads; i++)
		pthread_join(wq->threads[i], NULL);
	/* Completions activated but not yet run by the loop get run now. */
	event_base_loop(wq->base, EVLOOP_NONBLOCK);
	free(wq->threads);
	pthread_mutex_destroy(&wq->lock);
	pthread_cond_destroy(&wq->cond);
	free(wq);
}

int
workq_submit(struct workq *wq, workq_fn work, workq_fn done, void *arg)
{
	struct workq_job *job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return -1;
	job->work = work;
	job->done = done;
	job->arg = arg;
	job->done_ev = event_new(wq->base, -1, 0, workq_job_done, job);
	if (job->done_ev == NULL) {
		free(job);
		return -1;
	}
	pthread_mutex_lock(&wq->lock);
	if (wq->stopping) {
		/* No thread would run it: the caller must cope now. */
		pthread_mutex_unlock(&wq->lock);
		event_free(job->done_ev);
		free(job);
		return -1;
	}
	if (wq->tail)
		wq->tail->next = job;
	else
		wq->head = job;
	wq->tail = job;
	pthread_cond_signal(&wq->cond);
	pthread_mutex_unlock(&wq->lock);
	return 0;
}
